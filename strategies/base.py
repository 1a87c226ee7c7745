"""The base class of every strategy: a LightningModule with the runner's hooks.

The runner calls, per experience: `before_experience`, Lightning `fit` for
`train_epochs(exp)` epochs on `train_dataset(exp)` (skipped when 0), `after_experience`, then
`predict` on every test experience.
"""

from __future__ import annotations

from typing import Any, ClassVar

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from clbench.backbones import build_backbone
from clbench.config import StrategyParams
from clbench.errors import ClbenchError
from scenarios.base import Experience, Scenario


class Strategy(L.LightningModule):
    """Backbone + linear head over all classes of the stream, trained with cross-entropy."""

    Params: ClassVar[type[StrategyParams]] = StrategyParams
    defaults: ClassVar[dict[str, Any]] = {}  # config defaults this strategy recommends

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__()
        self.cfg = cfg
        self.params = cfg.strategy
        self.backbone, self.feature_dim = build_backbone(cfg.backbone, scenario.input_shape)
        self.head = nn.Linear(self.feature_dim, scenario.num_classes)
        self.num_classes = scenario.num_classes

    # -- runner hooks -------------------------------------------------------------------
    def before_experience(self, exp: Experience) -> None:
        """Called before training on `exp`."""

    def train_epochs(self, exp: Experience) -> int:
        """Epochs to train on `exp`; 0 skips Lightning's fit (nothing to train)."""
        return int(self.cfg.train.epochs)

    def train_dataset(self, exp: Experience) -> Dataset:
        """The data to fit on during `exp`."""
        return exp.train

    def after_experience(self, exp: Experience) -> None:
        """Called after training on `exp`, before evaluation."""

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted class indices for a batch of inputs."""
        return self(x).argmax(dim=1)

    # -- Lightning ----------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self(x), y)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch[0], batch[1]
        loss = self.loss(x, y)
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        t = self.cfg.train
        params = [p for p in self.parameters() if p.requires_grad]
        if t.optimizer == "sgd":
            return torch.optim.SGD(
                params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay
            )
        if t.optimizer == "adam":
            return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)
        raise ClbenchError(f"unknown train.optimizer '{t.optimizer}'; valid: adam, sgd")
