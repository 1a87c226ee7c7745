"""What OnPro and OCM share: a projection head, a reservoir buffer of raw stream samples, the
view A, and OCM's instance-wise contrast L_INS over rotation pseudo-classes, with every random
draw from one named stream (exact under DDP and on resume). Notes: docs/strategies/onpro.md,
docs/strategies/ocm.md.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from clbench.augment import onpro_view
from clbench.errors import ClbenchError
from clbench.stream import Experience, Scenario
from strategies.base import Strategy
from strategies.onpro.losses import rotation_views, supervised_nt_xent
from strategies.onpro.params import AUGMENTS, ContrastParams
from strategies.replay import ReservoirBuffer


class InstanceContrast(Strategy):
    """Base of OnPro and OCM: state, views and L_INS; subclasses write `loss`."""

    Params = ContrastParams
    rng_name: ClassVar[str] = "contrast"  # the random stream of every draw
    digits_augment: ClassVar[str] = "digits"  # augment=auto's preset for 1-channel images

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        p = self.params
        self.proj_dim = p.proj_dim if p.proj_dim is not None else min(128, self.feature_dim)
        for key, ok, must in self.checks():
            if not ok:
                raise ClbenchError(f"strategy.{key} must be {must}, got {getattr(p, key)}")
        shape = tuple(self.input_shape)  # the model's input (after any resize)
        if p.ins_views > 1 and (len(shape) != 3 or shape[1] != shape[2]):
            raise ClbenchError(
                f"strategy.ins_views={p.ins_views} rotates images, which needs square "
                f"images; input shape is {shape}: use strategy.ins_views=1 or 0"
            )
        name = self.augment_preset(shape)
        if name not in AUGMENTS:
            raise ClbenchError(
                f"strategy.augment must be auto or one of {', '.join(AUGMENTS)}, got '{name}'"
            )
        self._aug = AUGMENTS[name]
        self.projector = nn.Linear(self.feature_dim, self.proj_dim)
        self.buffer = ReservoirBuffer(p.buffer_size)
        self.seen = torch.zeros(self.num_classes, dtype=torch.bool)
        self._exp_index = 0
        self._step = 0  # stream batches so far in this experience

    def checks(self) -> list[tuple[str, bool, str]]:
        """(setting, valid, what it must be) for every checked setting."""
        p = self.params
        return [
            ("buffer_size", p.buffer_size >= 0, ">= 0"),
            ("mem_batch_size", p.mem_batch_size >= 1, ">= 1"),
            ("mem_per_class", p.mem_per_class >= 1, ">= 1"),
            ("proj_dim", 1 <= self.proj_dim <= self.feature_dim, f"in [1, {self.feature_dim}]"),
            ("ins_views", p.ins_views in (0, 1, 4, 16), "one of 0, 1, 4, 16"),
            ("ins_temperature", p.ins_temperature > 0, "> 0"),
        ]

    def augment_preset(self, shape: tuple[int, ...]) -> str:
        """The AUGMENTS preset of the view A (augment=auto: by the number of channels)."""
        if self.params.augment != "auto":
            return self.params.augment
        return self.digits_augment if shape[0] == 1 else "paper"

    # -- state -------------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, Any]:
        return {"buffer": self.buffer.state(), "seen": self.seen.clone()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.buffer.load(state["buffer"])
        self.seen = state["seen"].clone()

    def before_experience(self, exp: Experience) -> None:
        self._exp_index, self._step = exp.index, 0

    @property
    def _gen(self) -> torch.Generator:
        # one stream, the same on every process and on resume: every random draw agrees
        return self.rng(self.rng_name)

    # -- pieces ------------------------------------------------------------------------
    def _view(self, x: torch.Tensor) -> torch.Tensor:
        return onpro_view(x, self._gen, **self._aug)

    def _embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalised features, normalised projections)."""
        f = self.backbone(x)
        return F.normalize(f, dim=1), F.normalize(self.projector(f), dim=1)

    def _sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n buffer samples without replacement (all of them if fewer)."""
        assert self.buffer.x is not None and self.buffer.y is not None
        idx = torch.randperm(len(self.buffer), generator=self._gen)[:n]
        return self.buffer.x[idx], self.buffer.y[idx]

    def _ins(
        self, x: torch.Tensor, labels: torch.Tensor, scale: float, exclude_self: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """L_INS on [rot(x); A(rot(x))] with pseudo-labels label + C·view, and the projections
        z of those 2·V·n images (rows 0..V·n: the unaugmented rotations; row i of each half:
        view i // n of sample i % n, view 0 the image itself). ins_views=0: no loss."""
        v = max(self.params.ins_views, 1)
        rx = rotation_views(x, v)
        f, z = self._embed(torch.cat([rx, self._view(rx)]))
        if self.params.ins_views == 0:
            return torch.zeros((), device=x.device), z
        d = self.proj_dim
        spare = self.feature_dim - d
        start = int(torch.randint(spare, (1,), generator=self._gen)) if spare > 0 else 0
        sim = scale * (z @ f[:, start : start + d].t() + z @ z.t())
        pseudo = torch.cat([labels + self.num_classes * i for i in range(v)])
        loss = supervised_nt_xent(sim, pseudo, self.params.ins_temperature, exclude_self)
        return loss, z

    @staticmethod
    def unrotated(z: torch.Tensor, n: int) -> torch.Tensor:
        """The projections of x and A(x) (view 0 of each half) among `_ins`'s z of n samples."""
        half = len(z) // 2
        return torch.cat([z[:n], z[half : half + n]])
