"""CoTTA: Continual Test-Time Domain Adaptation (Wang, Fink, Van Gool, Dai, CVPR 2022, Sec. 3;
code qinenergy/cotta, cifar/cotta.py), on the CTTA base (strategies/tta.py).

After the source phase every weight and bias of the model is adapted (collect_params), and
every BatchNorm layer normalises with the statistics of the batch it sees, in the student,
the teacher and the anchor (configure_model). Per test batch: the anchor (the source model,
frozen) measures confidence; the EMA teacher gives the pseudo-labels, averaged over
`n_augmentations` views when the anchor's mean confidence is below `anchor_threshold`
(`teacher_pseudo_labels`); the student takes one Adam step on the soft cross-entropy to them
(student on the unaugmented batch); then the teacher follows by EMA (momentum 0.999, Eq. 2)
and every weight entry returns to its source value with probability `restore_prob` (Sec.
3.3, `stochastic_restore`, draws from the `cotta_restore` stream). The online prediction is
the pseudo-label's class, as the code returns. Our choices: views per sample (`cotta_view`,
no flips for 1-channel images), views drawn only when used, the offline prediction = the
teacher without views. Notes: docs/strategies/cotta.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from clbench.augment import cotta_view
from clbench.errors import ClbenchError
from clbench.stream import Scenario
from strategies.tta import (
    TestTimeAdaptation,
    TTAParams,
    soft_cross_entropy,
    stochastic_restore,
    teacher_pseudo_labels,
)


@dataclass
class CoTTAParams(TTAParams):
    ema_momentum: float = 0.999  # the teacher (cfgs/cifar10/cotta.yaml MT)
    anchor_threshold: float = 0.92  # AP: CIFAR-10 (0.72 on CIFAR-100)
    n_augmentations: int = 32  # N
    restore_prob: float = 0.01  # RST
    flip: str = "auto"  # horizontal flips among the views: auto = for 3-channel images only


class CoTTA(TestTimeAdaptation):
    Params = CoTTAParams
    # one Adam over the whole stream of domains, as the reference code (strategies/tta.py)
    defaults = {"backbone": {"name": "convnet"}, "train": {"optimizer_state": "keep"}}

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        p = self.params
        if p.n_augmentations < 0:
            raise ClbenchError(f"strategy.n_augmentations must be >= 0, got {p.n_augmentations}")
        for key in ("ema_momentum", "anchor_threshold", "restore_prob"):
            if not 0.0 <= getattr(p, key) <= 1.0:
                raise ClbenchError(f"strategy.{key} must be in [0, 1], got {getattr(p, key)}")
        flip = str(p.flip).lower()
        if flip not in ("auto", "true", "false"):
            raise ClbenchError(f"strategy.flip must be auto, true or false, not {p.flip}")
        shape = tuple(self.input_shape)  # the model's input (after any resize)
        self._flip = flip == "true" or (flip == "auto" and shape[0] == 3)
        pipe = self.input_pipeline  # the normalisation its inputs carry (clbench/inputs.py)
        self._mean = list(pipe.mean or [0.0] * shape[0])
        self._std = list(pipe.std or [1.0] * shape[0])
        self.teacher = self.frozen_copy()  # filled at the start of adaptation
        self.anchor = self.frozen_copy()  # the source model: confidence, restore values
        self.norms = [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self._index: torch.Tensor | None = None  # stream positions of the batch being adapted

    # -- phases -------------------------------------------------------------------------
    def start_adaptation(self) -> None:
        if not bool(self.anchor.ready):  # once, at the end of the source phase
            self.anchor.refresh(self.backbone, self.head)
            self.teacher.refresh(self.backbone, self.head)
        for bn in self.norms:  # batch statistics only, in train and eval mode (configure_model)
            bn.track_running_stats = False
        self.train(self.training)

    def train(self, mode: bool = True) -> CoTTA:
        super().train(mode)
        if bool(self.adapting):  # the code keeps every model in train mode: batch statistics
            for bn in self.norms:
                bn.train(True)
        return self

    def _source_params(self) -> list[tuple[nn.Parameter, torch.Tensor]]:
        """(adapted weight, its source value), in the model's order (the code's order)."""
        live = [*self.backbone.parameters(), *self.head.parameters()]
        source = [*self.anchor.backbone.parameters(), *self.anchor.head.parameters()]
        return [(w, s) for w, s in zip(live, source, strict=True) if w.requires_grad]

    # -- prediction and adaptation ------------------------------------------------------
    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.teacher(x).argmax(dim=1)  # offline: the teacher without views (ours)

    def _remember(self, x: torch.Tensor, index: torch.Tensor) -> None:
        self._index = index  # scored in adapt_step, with the pseudo-labels (the code's output)

    def adapt_step(self, x: torch.Tensor) -> torch.Tensor:
        p = self.params
        student = self(x)  # the code computes the student's outputs first
        with torch.no_grad():
            anchor_prob = self.anchor(x).softmax(dim=1).max(dim=1).values
            target = teacher_pseudo_labels(
                self.teacher,
                x,
                anchor_prob,
                p.anchor_threshold,
                p.n_augmentations,
                lambda v: cotta_view(v, self.rng("cotta"), self._mean, self._std, self._flip),
            )
            if self._index is not None:  # online: the class of the pseudo-label, pre-update
                self._store(self._index, target.argmax(dim=1))
                self._index = None
        return soft_cross_entropy(student, target)

    @torch.no_grad()
    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not bool(self.adapting):
            return
        p = self.params
        self.teacher.ema(self.backbone, self.head, p.ema_momentum)  # after the student's step
        if p.restore_prob > 0:
            g = self.rng("cotta_restore")
            for w, source in self._source_params():
                w.copy_(stochastic_restore(w, source, p.restore_prob, g))
