"""A frozen copy of a strategy's network: a teacher, or a snapshot taken at an experience end.

`Strategy.frozen_copy()` makes one from the strategy's backbone and head. It is a submodule,
so it is in the state_dict (a resumed run gets it back), the optimizer never sees it (no
parameter requires a gradient), and it stays in eval mode whatever mode the strategy is put
in. `refresh` copies the live weights in (LwF's and iCaRL's previous model), `ema` moves it
towards them (CoTTA's mean teacher); `ready` says whether it has been filled yet.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class FrozenCopy(nn.Module):
    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = copy.deepcopy(backbone).requires_grad_(False)
        self.head = copy.deepcopy(head).requires_grad_(False)
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))
        self.train(False)

    def train(self, mode: bool = True) -> FrozenCopy:
        return super().train(False)  # always in eval mode (no dropout, BN statistics fixed)

    def _pairs(
        self, backbone: nn.Module, head: nn.Module
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        mine = [*self.backbone.state_dict().values(), *self.head.state_dict().values()]
        live = [*backbone.state_dict().values(), *head.state_dict().values()]
        return list(zip(mine, live, strict=True))

    @torch.no_grad()
    def refresh(self, backbone: nn.Module, head: nn.Module) -> None:
        """Copy the live weights and buffers in."""
        for mine, live in self._pairs(backbone, head):
            mine.copy_(live)
        self.ready.fill_(True)

    @torch.no_grad()
    def ema(self, backbone: nn.Module, head: nn.Module, momentum: float) -> None:
        """mine <- momentum * mine + (1 - momentum) * live, for floating-point tensors."""
        for mine, live in self._pairs(backbone, head):
            if mine.is_floating_point():
                mine.mul_(momentum).add_(live, alpha=1.0 - momentum)
        self.ready.fill_(True)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))
