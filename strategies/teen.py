"""TEEN: training-free prototype calibration for FSCIL (Wang, Zhou, Ye, Zhan, "Few-Shot
Class-Incremental Learning via Training-Free Prototype Calibration", NeurIPS 2023, Sec. 4;
code: wangkiw/TEEN, `models/teen/Network.py`).

Base session: backbone + bias-free cosine classifier, logits = T * cos(f(x), w_c), trained
with cross-entropy over the base classes (the code's `ft_cos`); then every base row becomes
the mean raw feature of its class. Incremental sessions: no training; each new class's
prototype is the mean feature of its shots, calibrated towards a similarity-weighted mix of
the base prototypes with `calibrate` (Sec. 4.2, Eq. 6-7). Prediction: argmax of T * cos over
the classes seen so far. Exemplar-free.

Our choices: the paper's CIFAR-100 values (alpha 0.1, tau 16, T 16) on clbench's digit
streams; base training follows `train.*` and keeps the last epoch (not the code's
best-on-test one). Notes: docs/strategies/teen.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from clbench.config import StrategyParams
from clbench.errors import ClbenchError
from clbench.stream import Experience, Scenario
from strategies.base import Strategy
from strategies.prototypes import (
    FeatureCache,
    cosine_logits,
    experience_class_means,
)


def calibrate(
    base_protos: torch.Tensor, new_protos: torch.Tensor, alpha: float, tau: float
) -> torch.Tensor:
    """TEEN's calibrated new prototypes [N, d] (Sec. 4.2).

    With b = normalise(base) [B, d] and c = normalise(new) [N, d]:
    w = softmax(tau * c b^T) over the base classes, delta = normalise(w b),
    result = (1 - alpha) * c + alpha * delta. Independent of the scale of the base prototypes.
    """
    b = F.normalize(base_protos.float(), dim=1)
    c = F.normalize(new_protos.float(), dim=1)
    w = torch.softmax(tau * c @ b.T, dim=1)
    delta = F.normalize(w @ b, dim=1)
    return (1 - alpha) * c + alpha * delta


@dataclass
class TEENParams(StrategyParams):
    alpha: float = 0.1  # shift_weight: weight of the base-derived term (CIFAR-100 value)
    tau: float = 16.0  # softmax_t: sharpness of the base-similarity weights
    temperature: float = 16.0  # T of the cosine classifier (CIFAR-100 value)
    encode_batch_size: int = 256
    cache_features: bool = True  # memoise test features once the backbone is frozen


class TEEN(Strategy):
    Params = TEENParams
    search_space = {
        "train.lr": (1e-3, 0.1, "log"),
        "strategy.alpha": (0.0, 1.0, "linear"),
        "strategy.tau": (1.0, 32.0, "log"),
    }

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        p = self.params
        if not 0.0 <= p.alpha <= 1.0 or p.tau < 0 or p.temperature <= 0:
            raise ClbenchError(
                "strategy.alpha must be in [0, 1], strategy.tau >= 0, strategy.temperature > 0"
            )
        self.head = nn.Linear(self.feature_dim, self.num_classes, bias=False)  # cosine rows
        self.register_buffer("seen", torch.zeros(self.num_classes, dtype=torch.bool))
        self.base_classes: list[int] = []
        self.frozen = False  # after the base session the backbone never changes
        self.cache = FeatureCache(self.backbone, self.params.cache_features)

    def train(self, mode: bool = True) -> TEEN:
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cosine_logits(self.backbone(x), self.head.weight, self.params.temperature, self.seen)

    def train_epochs(self, exp: Experience) -> int:
        return int(self.cfg.train.epochs) if exp.index == 0 else 0  # only the base session

    def before_experience(self, exp: Experience) -> None:
        self.seen[exp.classes] = True

    @torch.no_grad()
    def after_experience(self, exp: Experience) -> None:
        means = experience_class_means(self, exp, self.params.encode_batch_size).to(
            self.head.weight
        )
        if not self.frozen:  # the base session: its rows become the class means
            self.base_classes = list(exp.classes)
            self.frozen = True
            self.backbone.eval()
        else:
            base = self.head.weight[self.base_classes]
            means = calibrate(base, means, self.params.alpha, self.params.tau)
        self.head.weight[exp.classes] = means.to(self.head.weight)  # calibrate gives float32

    def restore(self, finished: list[Experience]) -> None:
        if finished:  # resumed after the base session: its classes, and a frozen backbone
            self.base_classes = list(finished[0].classes)
            self.frozen = True
            self.backbone.eval()

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        f = self.cache(x) if self.frozen else self.backbone(x)
        return cosine_logits(f, self.head.weight, self.params.temperature, self.seen).argmax(1)
