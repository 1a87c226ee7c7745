"""The base class of every strategy: a LightningModule with the runner's hooks.

The runner calls, per experience: `before_experience`, Lightning `fit` for
`train_epochs(exp)` epochs on `train_dataset(exp)` (skipped when 0), `after_experience`, then
`predict` on every test experience. After each experience it saves `state_dict()` (so
strategy state must be reachable from it: parameters, buffers or `get_extra_state`) and, on
resume, loads it and calls `restore`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from clbench.augment import batch_transform
from clbench.backbones import build_backbone
from clbench.config import StrategyParams
from clbench.errors import ClbenchError
from clbench.schedules import AnnealForEvaluation, LRSchedule, is_trivial
from clbench.stream import Experience, Scenario

OPTIMIZERS = {
    "sgd": lambda params, t: torch.optim.SGD(
        params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay
    ),
    "adam": lambda params, t: torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay),
}


class Strategy(L.LightningModule):
    """Backbone + linear head over all classes of the stream, trained with cross-entropy."""

    Params: ClassVar[type[StrategyParams]] = StrategyParams
    defaults: ClassVar[dict[str, Any]] = {}  # config defaults this strategy recommends
    # How closely the strategy follows its paper: {part: note}, copied by the runner into the
    # record's `fidelity` (e.g. which update rules are the paper's and which are our choice).
    fidelity: ClassVar[dict[str, str]] = {}

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__()
        self.cfg = cfg
        self.params = cfg.strategy
        self.backbone, self.feature_dim = build_backbone(cfg.backbone, scenario.input_shape)
        self.head = nn.Linear(self.feature_dim, scenario.num_classes)
        self.num_classes = scenario.num_classes
        if cfg.train.optimizer not in OPTIMIZERS:
            raise ClbenchError(
                f"unknown train.optimizer '{cfg.train.optimizer}'; valid: {', '.join(OPTIMIZERS)}"
            )
        self._last_loss: torch.Tensor | None = None
        # The scenario's training augmentation, applied to whole batches on the device.
        self._augment = batch_transform(scenario.info.get("train_transform", "none"))
        # train.schedule: the LR over the stream, and the infinite schedule's T_ann weights
        self.lr_schedule = LRSchedule(cfg.train)
        # GPU speed options (trainer.*): memory format, then compilation
        self._channels_last = bool(cfg.trainer.get("channels_last", False))
        if self._channels_last:
            self.backbone.to(memory_format=torch.channels_last)
        if cfg.trainer.get("compile", False):
            self.backbone.compile()

    # -- LR schedule over the stream (runner-facing; see clbench/schedules.py) ----------------
    def step_plan(self, experiences: list[Experience], batch_size: int, epochs: int) -> list[int]:
        """Optimizer steps each experience will take, known before the stream; override when
        `train_dataset` or `train_epochs` differ from one pass per epoch over `exp.train`."""
        return [epochs * math.ceil(len(e.train) / batch_size) for e in experiences]

    def plan_stream(self, experiences: list[Experience], batch_size: int, epochs: int) -> None:
        """Runner: called once before the stream (and on resume) with the global batch size and
        the epochs per experience; schedules over the whole stream need its total steps."""
        self.lr_schedule.plan = self.step_plan(experiences, batch_size, epochs)

    def start_experience(self, index: int) -> None:
        """Runner: the stream position, set before `before_experience` (not meant to be
        overridden; the LR of experience `index` is a function of it and the plan)."""
        self.lr_schedule.experience = index

    # -- runner hooks -------------------------------------------------------------------
    def before_experience(self, exp: Experience) -> None:
        """Called before training on `exp`."""

    def source_epochs(self) -> int:
        """Epochs on the scenario's labelled source data before the stream, for scenarios that
        have one (CTTA: the source model); 0 skips it (e.g. a source model from a checkpoint)."""
        return int(self.cfg.train.epochs)

    def train_epochs(self, exp: Experience) -> int:
        """Epochs to train on `exp`; 0 skips Lightning's fit (nothing to train)."""
        return int(self.cfg.train.epochs)

    def train_dataset(self, exp: Experience) -> Dataset:
        """The data to fit on during `exp`."""
        return exp.train

    def after_experience(self, exp: Experience) -> None:
        """Called after training on `exp`, before evaluation."""

    def online_predictions(self, exp: Experience) -> torch.Tensor | None:
        """The class each sample of `exp.test` was given while training on `exp`, predicted
        before any update on it (-1: not predicted), for online scoring (CTTA); called after
        training on `exp`, before `after_experience`. None (the default): not scored."""
        return None

    def restore(self, finished: list[Experience]) -> None:
        """Called on resume, after the saved state is loaded, with the finished experiences.

        State that lives in tensors belongs in the state_dict (parameters, buffers, or
        `get_extra_state`), which the runner saves after every experience; override this
        only for state that refers to the data itself (e.g. which experiences were seen).
        """

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted class indices for a batch of inputs."""
        return self(x).argmax(dim=1)

    # -- Lightning ----------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self(x), y)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.trainer.training:
            x = self._augment(batch[0], None)
            if self._channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            batch = [x, *batch[1:]]
        return batch

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch[0], batch[1]
        loss = self.loss(x, y)
        self.track_loss("train/loss", loss, batch_idx)
        return loss

    def track_loss(self, name: str, loss: torch.Tensor, batch_idx: int) -> None:
        """Keep the loss for the end-of-epoch check and log it at the logger's interval
        (`self.log` costs about 1 ms a call: not on every step)."""
        self._last_loss = loss.detach()
        # the steps Lightning's logger writes (it writes after (step + 1) % n == 0)
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log(name, loss, on_step=True, on_epoch=False, prog_bar=True)

    def on_train_epoch_end(self) -> None:
        # Once per epoch, not per step (no host-device sync in the loop): a NaN or infinite
        # loss leaves non-finite weights behind, so the last loss and the weights show it.
        last = self._last_loss
        trained = [p.detach().sum() for p in self.parameters() if p.requires_grad]
        # one reduction per tensor (a NaN anywhere makes its sum NaN), one sync in all
        weights_ok = not trained or bool(torch.isfinite(torch.stack(trained)).all())
        if not weights_ok or (last is not None and not bool(torch.isfinite(last))):
            raise ClbenchError(
                f"training loss became NaN or infinite (epoch {self.current_epoch}); "
                "lower train.lr or check the data"
            )

    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = OPTIMIZERS[self.cfg.train.optimizer](params, self.cfg.train)
        if not self.lr_schedule.active():
            return optimizer
        scheduler = self.lr_schedule.scheduler(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def configure_callbacks(self) -> list[Any]:
        # Lightning calls every hook of every callback on every step: attach only what is used
        return (
            []
            if is_trivial(self.lr_schedule.train_cfg)
            else [AnnealForEvaluation(self.lr_schedule)]
        )
