"""OnPro's settings (`strategy.*`) and its two augmentation presets: the code's defaults
unless marked as our choice (docs/strategies/onpro.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from clbench.config import StrategyParams


@dataclass
class OnProParams(StrategyParams):
    buffer_size: int = 200  # M (code: 200 on CIFAR-10, 500/1000 on CIFAR-100/Tiny)
    mem_batch_size: int = 64  # memory batch, capped at mem_per_class x seen classes
    mem_per_class: int = 7
    # projection g: feature_dim -> proj_dim, one linear layer (code: 128); None: 128, or the
    # feature dimension if smaller (our choice, e.g. split-digits' 100-wide MLP)
    proj_dim: int | None = None
    proto_temperature: float = 0.5  # OPE
    ins_temperature: float = 0.07  # L_INS
    ins_views: int = 16  # rotation pseudo-classes of L_INS: 16 (code), 4, 1, or 0 (off)
    ins_lambda: float = 1.0  # λ_s scaling L_INS similarities from experience 2 (0.5 on C10)
    mixup_base_rate: float = 0.75  # r: share of the memory batch with in-batch mixup
    mixup_p: float = 0.6  # p: probability of mixing (per sample in-batch, per pair in APF)
    mixup_lower: float = 0.0  # in-batch mixup λ ~ U[lower, upper]
    mixup_upper: float = 0.6
    mixup_alpha: float = 0.4  # APF pair mixup λ ~ Beta(alpha, alpha)
    augment: str = "auto"  # auto | paper | digits (docs/strategies/onpro.md)


AUGMENTS = {
    "paper": {"scale": (0.3, 1.0), "hflip": True, "gray_p": 0.25},
    "digits": {"scale": (0.6, 1.0), "hflip": False, "gray_p": 0.0},  # our choice
}
