"""Shared machinery of continual test-time adaptation (CTTA) strategies (tent, vdp).

A CTTA strategy has two phases in one run:
1. the **source phase**: the runner fits the model on the scenario's labelled clean data
   (`info["source_train"]()`) with the ordinary supervised step and `train.*` settings;
2. the **adaptation phase**, from the first `before_experience` on: per corruption domain,
   one unsupervised pass (`train_epochs` = 1) over the domain's unlabelled images (batches
   `[x]`) in `train.batch_size` batches, with the strategy's own optimizer
   (`strategy.lr`, Adam as in Tent and CoTTA) and `adapt_step`.

Protocol difference (our choice, a limitation of the runner's loop): the CTTA papers score
the predictions made *while* adapting (predict a batch, then adapt on it). Here the runner
scores the model after the pass over domain i on domain i's images: the record's
`domain_error[i]` is 1 - A[i][i]. Each image was seen once, unlabelled, before it is scored.

DDP: refused with a one-line error. Tent normalises with the statistics of each process's
batch, and VDP's augmentations and pseudo-label decisions are per batch, so N processes
would not reproduce the single-process run.

Adaptation state that must survive a resume lives in the state_dict (parameters and
buffers, incl. the `adapting` flag). The Adam moments do not: each domain starts a fresh
optimizer (our choice; Tent and CoTTA keep one optimizer over the whole stream).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from clbench.config import StrategyParams
from clbench.errors import ClbenchError
from scenarios.base import Experience, Scenario
from strategies.base import Strategy


def softmax_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-sample Shannon entropy of softmax(logits): -sum_k p_k log p_k (Tent, Eq. 1)."""
    return -(logits.softmax(dim=1) * logits.log_softmax(dim=1)).sum(dim=1)


def soft_cross_entropy(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -sum_k softmax(teacher)_k log softmax(student)_k (CoTTA's loss)."""
    return -(teacher.softmax(dim=1) * student.log_softmax(dim=1)).sum(dim=1).mean()


@dataclass
class TTAParams(StrategyParams):
    lr: float = 1e-3  # Adam learning rate of the adaptation phase (Tent, CoTTA on CIFAR-10-C)


class TestTimeAdaptation(Strategy):
    """Base of CTTA strategies: source phase as a supervised Strategy, then `adapt_step`."""

    __test__ = False  # not a pytest class, despite its name
    Params = TTAParams

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        if self.params.lr < 0:
            raise ClbenchError(f"strategy.lr must be >= 0, got {self.params.lr}")
        # In the state_dict: a resumed run knows it is past the source phase.
        self.register_buffer("adapting", torch.zeros((), dtype=torch.bool))

    # -- phases -------------------------------------------------------------------------
    def start_adaptation(self) -> None:
        """Switch the model to adaptation (freeze, re-mode layers). Idempotent: called before
        every domain and again on resume."""

    def before_experience(self, exp: Experience) -> None:
        self.adapting.fill_(True)
        self.start_adaptation()

    def restore(self, finished: list[Experience]) -> None:
        if bool(self.adapting):
            self.start_adaptation()

    def train_epochs(self, exp: Experience) -> int:
        return 1  # one pass over each domain's unlabelled images

    def setup(self, stage: str) -> None:
        if self.trainer.world_size > 1:
            raise ClbenchError(
                f"strategy '{self.cfg.strategy.name}' is not exact under DDP (per-process test "
                "batches); run it on one device"
            )

    # -- Lightning ----------------------------------------------------------------------
    def adapt_step(self, x: torch.Tensor) -> torch.Tensor:
        """The unsupervised loss on one batch of unlabelled test images."""
        raise NotImplementedError

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if not bool(self.adapting):
            return super().training_step(batch, batch_idx)
        loss = self.adapt_step(batch[0])
        self.track_loss("adapt/loss", loss, batch_idx)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if not bool(self.adapting):
            return super().configure_optimizers()
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=self.params.lr, betas=(0.9, 0.999))
