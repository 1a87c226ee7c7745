"""OnPro (see strategies/onpro/strategy.py)."""

from strategies.onpro.strategy import (
    AUGMENTS,
    OnPro,
    OnProParams,
    allocate_pairs,
    class_prototypes,
    gather_global_batch,
    inbatch_mixup_lambdas,
    mix,
    mixup_cross_entropy,
    pair_probabilities,
    prototype_contrast_loss,
    rotation_views,
    supervised_nt_xent,
)

__all__ = [
    "AUGMENTS",
    "OnPro",
    "OnProParams",
    "allocate_pairs",
    "class_prototypes",
    "gather_global_batch",
    "inbatch_mixup_lambdas",
    "mix",
    "mixup_cross_entropy",
    "pair_probabilities",
    "prototype_contrast_loss",
    "rotation_views",
    "supervised_nt_xent",
]
