"""OnPro: Online Prototype Learning for Online Continual Learning (Wei et al., ICCV 2023;
code weilllllls/OnPro at a92f8ae). Online class-incremental: one pass in small batches
(`scenario.online=true scenario.batch_size=10`), one optimizer step per stream batch.

- Online prototypes and their equilibrium, OPE (Sec. 4.1, Eq. 3-5): a contrast over the class
  prototypes of two views, on the stream batch and a memory batch (losses.py).
- Adaptive prototypical feedback, APF (Sec. 4.2, Eq. 6): memory samples mixed within the
  batch and across class pairs chosen by prototype distance (apf.py).
- Loss (Sec. 4.3): CE (on the APF memory batch after experience 1) + OCM's L_INS over
  rotation pseudo-classes + L_OPE; reservoir buffer; Adam as the code (params.py).
Our choices, labelled in the notes: the `digits` augmentation preset for 1-channel images
(`clbench.augment.onpro_view`), exact DDP (every process computes the whole global step,
ddp.py), fewer L_INS views for speed, fallbacks where the code would fail. Measured: it does
not beat replay on split-mnist-5k. Notes: docs/strategies/onpro.md.
"""

from strategies.onpro.apf import allocate_pairs, inbatch_mixup_lambdas, mix, pair_probabilities
from strategies.onpro.contrast import InstanceContrast
from strategies.onpro.ddp import gather_global_batch
from strategies.onpro.losses import (
    class_prototypes,
    mixup_cross_entropy,
    prototype_contrast_loss,
    rotation_views,
    supervised_nt_xent,
)
from strategies.onpro.params import AUGMENTS, ContrastParams, OnProParams
from strategies.onpro.strategy import OnPro

__all__ = [
    "AUGMENTS",
    "ContrastParams",
    "InstanceContrast",
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
