"""The settings (`strategy.*`) of OnPro and of OCM's shared part, and the presets of the view A:
the codes' defaults unless marked as our choice (docs/strategies/onpro.md, ocm.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from clbench.config import StrategyParams


@dataclass
class ContrastParams(StrategyParams):
    """What OnPro and OCM share (strategies/onpro/contrast.py)."""

    buffer_size: int = 200  # M (OnPro's code: 200 on CIFAR-10, 500/1000 on CIFAR-100/Tiny)
    mem_batch_size: int = 64  # memory batch, capped at mem_per_class x seen classes
    mem_per_class: int = 7
    # projection g: feature_dim -> proj_dim, one linear layer (the codes: 128); None: 128, or
    # the feature dimension if smaller (our choice, e.g. split-digits' 100-wide MLP)
    proj_dim: int | None = None
    ins_temperature: float = 0.07  # L_INS
    ins_views: int = 16  # rotation pseudo-classes of L_INS: 16 (the codes), 4, 1, or 0 (off)
    augment: str = "auto"  # auto or one of AUGMENTS (docs/strategies/onpro.md)


@dataclass
class OnProParams(ContrastParams):
    proto_temperature: float = 0.5  # OPE
    ins_lambda: float = 1.0  # λ_s scaling L_INS similarities from experience 2 (0.5 on C10)
    mixup_base_rate: float = 0.75  # r: share of the memory batch with in-batch mixup
    mixup_p: float = 0.6  # p: probability of mixing (per sample in-batch, per pair in APF)
    mixup_lower: float = 0.0  # in-batch mixup λ ~ U[lower, upper]
    mixup_upper: float = 0.6
    mixup_alpha: float = 0.4  # APF pair mixup λ ~ Beta(alpha, alpha)


AUGMENTS = {
    "paper": {"scale": (0.3, 1.0), "hflip": True, "gray_p": 0.25},  # the codes, colour images
    "digits": {"scale": (0.6, 1.0), "hflip": False, "gray_p": 0.0},  # our choice (OnPro)
    "mnist": {"scale": (0.3, 1.0), "hflip": False, "gray_p": 0.0},  # OCM's test_mnist.py
}
