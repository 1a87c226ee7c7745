"""The fscil-tricks strategy: the incremental-frozen prototype baseline with five switchable
tricks (summary: strategies/fscil_tricks/__init__.py; the pure functions: losses.py; notes and
every choice: docs/strategies/fscil-tricks.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from clbench.config import StrategyParams
from clbench.errors import ClbenchError
from clbench.stream import Experience, Scenario
from strategies.base import Strategy
from strategies.fscil_tricks.losses import (
    pseudo_mix,
    rotation_batch,
    simplex_etf,
    sparse_masks,
    supcon_loss,
)
from strategies.prototypes import (
    FeatureCache,
    cosine_logits,
    experience_class_means,
)

TRICKS = ("supcon", "etf", "pseudo_classes", "subnet", "rotation")


@dataclass
class FscilTricksParams(StrategyParams):
    # switches (all off: the incremental-frozen baseline)
    supcon: bool = False
    etf: bool = False
    pseudo_classes: bool = False
    subnet: bool = False
    rotation: bool = False
    # settings (our choices unless noted)
    temperature: float = 16.0  # T of the cosine classifier (TEEN's CIFAR-100 value)
    supcon_weight: float = 1.0
    supcon_tau: float = 0.1  # Khosla et al.'s default
    proj_dim: int = 128
    etf_seed: int = 0
    n_pseudo: int = 10
    pseudo_weight: float = 1.0
    rotation_weight: float = 1.0
    subnet_ratio: float = 0.1  # fraction of each weight tensor tuned in incremental sessions
    subnet_epochs: int = 10
    subnet_lr: float = 0.01
    encode_batch_size: int = 256


class FscilTricks(Strategy):
    Params = FscilTricksParams
    fidelity: ClassVar[dict[str, str]] = {
        "source": "arXiv 2403.14392 (v1/v2); no public code; paper's weights not read",
        "baseline": "paper: base training, frozen encoder, class-mean prototypes",
        "supcon": "standard SupCon (Khosla 2020); one view, weight 1.0: our choice",
        "etf": "fixed simplex-ETF classifier rows in base training; mean prototypes: our choice",
        "pseudo_classes": "our choice: 50/50 input mixup of class pairs as extra classes",
        "subnet": "our choice: smallest-magnitude 10% of each weight tensor, plain SGD",
        "rotation": "4-way rotation, joint 4y+r head, weight 1.0: our choice",
        "ssl_pretraining": "not implemented",
    }

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        p = self.params
        if p.temperature <= 0 or p.supcon_tau <= 0 or not 0.0 <= p.subnet_ratio <= 1.0:
            raise ClbenchError(
                "strategy.temperature and strategy.supcon_tau must be > 0, "
                "strategy.subnet_ratio in [0, 1]"
            )
        if p.pseudo_classes and p.n_pseudo < 1:
            raise ClbenchError("strategy.n_pseudo must be >= 1 with strategy.pseudo_classes")
        d, c = self.feature_dim, self.num_classes
        self.n_rows = c + (p.n_pseudo if p.pseudo_classes else 0)
        self.head = nn.Linear(d, self.n_rows, bias=False)
        if p.etf:  # pre-assigned, never trained
            self.head.weight.data.copy_(simplex_etf(self.n_rows, d, p.etf_seed))
            self.head.weight.requires_grad_(False)
        self.proj = (
            nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, p.proj_dim))
            if p.supcon
            else None
        )
        self.rot_head = nn.Linear(d, 4 * c) if p.rotation else None
        self.register_buffer("protos", torch.zeros(c, d))
        self.register_buffer("seen", torch.zeros(c, dtype=torch.bool))
        self.register_buffer("sessions", torch.zeros((), dtype=torch.long))
        # The subnetwork: one mask per weight matrix/kernel, chosen after the base session.
        self._tunable = [w for w in self.backbone.parameters() if w.dim() >= 2]
        self.masks = nn.Module()
        if p.subnet:
            for i, w in enumerate(self._tunable):
                self.masks.register_buffer(f"m{i}", torch.zeros_like(w, dtype=torch.bool))
        self.cache = FeatureCache(self.backbone)

    # -- state ----------------------------------------------------------------------------
    @property
    def base_done(self) -> bool:
        return int(self.sessions) > 0

    def _mask_list(self) -> list[torch.Tensor]:
        return [getattr(self.masks, f"m{i}") for i in range(len(self._tunable))]

    def _freeze(self) -> None:
        """After the base session: everything frozen but the subnetwork's tensors."""
        self.requires_grad_(False)
        if self.params.subnet:
            for w in self._tunable:
                w.requires_grad_(True)

    def restore(self, finished: list[Experience]) -> None:
        if self.base_done:
            self._freeze()

    def train(self, mode: bool = True) -> FscilTricks:
        super().train(mode)
        if self.base_done:
            self.backbone.eval()  # batch-norm statistics frozen after the base session
        return self

    # -- runner hooks ---------------------------------------------------------------------
    def train_epochs(self, exp: Experience) -> int:
        if exp.index == 0:  # the base session
            return int(self.cfg.train.epochs)
        return int(self.params.subnet_epochs) if self.params.subnet else 0

    @torch.no_grad()
    def before_experience(self, exp: Experience) -> None:
        self.seen[exp.classes] = True
        if self.base_done and self.params.subnet:  # the tuning targets of the novel classes
            self.protos[exp.classes] = experience_class_means(
                self, exp, self.params.encode_batch_size
            ).to(self.protos)

    @torch.no_grad()
    def after_experience(self, exp: Experience) -> None:
        self.protos[exp.classes] = experience_class_means(
            self, exp, self.params.encode_batch_size
        ).to(self.protos)
        if not self.base_done:
            if self.params.subnet:
                for m, w in zip(
                    self._mask_list(),
                    sparse_masks(self._tunable, self.params.subnet_ratio),
                    strict=True,
                ):
                    m.copy_(w)
            self._freeze()
        self.sessions += 1

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        frozen = self.base_done and not self.params.subnet
        f = self.cache(x) if frozen else self.backbone(x)
        return cosine_logits(f, self.protos, self.params.temperature, self.seen).argmax(1)

    # -- training -------------------------------------------------------------------------
    def _row_mask(self) -> torch.Tensor:
        """Classifier rows that take part in base training: seen classes and pseudo-classes."""
        valid = torch.ones(self.n_rows, dtype=torch.bool, device=self.seen.device)
        valid[: self.num_classes] = self.seen
        return valid

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p = self.params
        x = self.augment(x)
        if self.base_done:  # incremental SubNet tuning against the fixed prototypes
            f = self.backbone(x)
            return F.cross_entropy(cosine_logits(f, self.protos, p.temperature, self.seen), y)
        n = len(x)
        if p.rotation:
            xr, yr = rotation_batch(x, y)
            f_all = self.backbone(xr)
            f = f_all[:n]  # r = 0: the batch itself
        else:
            f = self.backbone(x)
        valid = self._row_mask()
        loss = F.cross_entropy(cosine_logits(f, self.head.weight, p.temperature, valid), y)
        if p.supcon:
            z = F.normalize(self.proj(f), dim=1)
            loss = loss + p.supcon_weight * supcon_loss(z, y, p.supcon_tau)
        if p.rotation:
            loss = loss + p.rotation_weight * F.cross_entropy(self.rot_head(f_all), yr)
        if p.pseudo_classes:
            perm = torch.randperm(n, device=x.device)
            xm, ym = pseudo_mix(x, y, perm, self.num_classes, p.n_pseudo)
            if len(xm):
                logits = cosine_logits(self.backbone(xm), self.head.weight, p.temperature, valid)
                loss = loss + p.pseudo_weight * F.cross_entropy(logits, ym)
        return loss

    def on_after_backward(self) -> None:
        if self.base_done and self.params.subnet:  # only the subnetwork moves
            for w, m in zip(self._tunable, self._mask_list(), strict=True):
                if w.grad is not None:
                    w.grad.mul_(m)

    def param_groups(self) -> list[dict[str, Any]]:
        return [{"params": self._tunable}] if self.base_done else super().param_groups()

    def optimizer_settings(self) -> dict[str, Any]:
        if self.base_done:
            # plain SGD: no momentum or weight decay that could move masked-out entries
            return {"name": "sgd", "lr": self.params.subnet_lr}
        return super().optimizer_settings()
