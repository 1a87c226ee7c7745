"""Shared machinery of continual test-time adaptation (CTTA) strategies (tent, vdp).

A CTTA strategy has two phases in one run:
1. the **source phase**: the runner fits the model on the scenario's labelled clean data
   (`info["source_train"]()`) with the ordinary supervised step and `train.*` settings;
2. the **adaptation phase**, from the first `before_experience` on: per corruption domain,
   one unsupervised pass over the domain's unlabelled images with the strategy's own
   optimizer (`strategy.lr`, Adam as in Tent and CoTTA) and `adapt_step`.

Scoring: the online error of the CTTA papers (CoTTA's code): each batch is predicted, in eval
mode and without gradients, before `adapt_step` updates on it; the runner scores those
predictions (`online_predictions`). DDP is refused (per-process test batches). Adaptation
state lives in the state_dict; one Adam over the whole stream, as CoTTA's code.
Notes: docs/strategies/tta.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset

from clbench.config import StrategyParams
from clbench.errors import ClbenchError
from clbench.stream import Experience, Scenario
from strategies.base import Strategy


def softmax_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-sample Shannon entropy of softmax(logits): -sum_k p_k log p_k (Tent, Eq. 1)."""
    return -(logits.softmax(dim=1) * logits.log_softmax(dim=1)).sum(dim=1)


def soft_cross_entropy(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -sum_k softmax(teacher)_k log softmax(student)_k (CoTTA's loss)."""
    return -(teacher.softmax(dim=1) * student.log_softmax(dim=1)).sum(dim=1).mean()


# CoTTA's teacher-student pieces (Wang et al. CVPR 2022, Sec. 3; shared by cotta and vdp)


def ema_update(teacher: torch.Tensor, student: torch.Tensor, momentum: float) -> torch.Tensor:
    """momentum * teacher + (1 - momentum) * student (CoTTA Eq. 2)."""
    return momentum * teacher + (1.0 - momentum) * student


def needs_augmentation(anchor_prob: torch.Tensor, threshold: float) -> bool:
    """CoTTA: average over augmentations when the source model's mean confidence is low."""
    return bool(anchor_prob.mean() < threshold)


def pseudo_labels(
    standard: torch.Tensor,
    augmented: torch.Tensor | None,
    anchor_prob: torch.Tensor,
    threshold: float,
) -> torch.Tensor:
    """The teacher's target logits: the mean of `augmented` (A, B, K) over its A copies when
    `needs_augmentation`, else `standard` (B, K)."""
    if not needs_augmentation(anchor_prob, threshold):
        return standard
    if augmented is None:
        raise ValueError("low anchor confidence: augmented teacher outputs are needed")
    return augmented.mean(dim=0)


def stochastic_restore(
    param: torch.Tensor, source: torch.Tensor, prob: float, generator: torch.Generator
) -> torch.Tensor:
    """Each entry reset to `source` with probability `prob` (CoTTA Sec. 3.3)."""
    keep = torch.rand(param.shape, generator=generator) >= prob
    return torch.where(keep.to(param.device), param, source)


def teacher_pseudo_labels(
    teacher: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    anchor_prob: torch.Tensor,
    threshold: float,
    n_augmentations: int,
    view: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """CoTTA's target logits: `teacher(x)`, or its mean over `n_augmentations` random views of
    x (`view` draws one) when the anchor is unsure (`needs_augmentation`); views are drawn only
    then (CoTTA's code computes them on every batch and discards them)."""
    standard = teacher(x)
    if n_augmentations == 0 or not needs_augmentation(anchor_prob, threshold):
        return standard
    augmented = torch.stack([teacher(view(x)) for _ in range(n_augmentations)])
    return pseudo_labels(standard, augmented, anchor_prob, threshold)


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
        # the online predictions of the current domain (consumed after it: not state)
        self._online: torch.Tensor | None = None
        self._online_n = 0

    # -- phases -------------------------------------------------------------------------
    def start_adaptation(self) -> None:
        """Switch the model to adaptation (freeze, re-mode layers). Idempotent: called before
        every domain and again on resume."""

    def before_experience(self, exp: Experience) -> None:
        self.adapting.fill_(True)
        self.start_adaptation()
        self._online, self._online_n = None, len(exp.train)

    def train_dataset(self, exp: Experience) -> Dataset:
        """The domain's images and their positions in it (for online scoring; no labels)."""
        (x,) = exp.train.tensors
        return TensorDataset(x, torch.arange(len(x)))

    def online_predictions(self, exp: Experience) -> torch.Tensor | None:
        if self._online is None:  # nothing predicted (e.g. a dataset without positions)
            return None
        out, self._online = self._online.cpu(), None
        return out

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

    def step_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if not bool(self.adapting):
            return super().step_loss(batch, batch_idx)
        if len(batch) > 1:  # [x, positions]: predict before the update (online scoring)
            self._remember(batch[0], batch[1])
        loss = self.adapt_step(batch[0])
        self.track_loss("adapt/loss", loss, batch_idx)
        return loss

    @torch.no_grad()
    def _remember(self, x: torch.Tensor, index: torch.Tensor) -> None:
        """Predict the batch before the update on it and keep the classes (`_store`)."""
        was_training = self.training
        self.train(False)  # as the runner predicts (e.g. no dropout); adapting modes stay
        self._store(index, self.predict(x))
        self.train(was_training)

    def _store(self, index: torch.Tensor, classes: torch.Tensor) -> None:
        if self._online is None:  # on the training device, so no sync per step
            n = self._online_n
            self._online = torch.full((n,), -1, dtype=torch.int64, device=classes.device)
        self._online[index.to(classes.device)] = classes.to(torch.int64)

    def optimizer_settings(self) -> dict[str, Any]:
        if not bool(self.adapting):
            return super().optimizer_settings()
        return {"name": "adam", "lr": self.params.lr, "betas": [0.9, 0.999]}
