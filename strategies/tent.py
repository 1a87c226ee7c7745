"""Tent: fully test-time adaptation by entropy minimisation (Wang, Shelhamer, Liu, Olshausen,
Darrell, ICLR 2021, Sec. 3; continual use as in CoTTA's baseline).

After the source phase (see strategies/tta.py), every BatchNorm layer normalises with the
statistics of the current test batch (Sec. 3.2 "modulation": no running statistics are used
or updated), and only the BN affine parameters (scale gamma, shift beta) are trained, by one
Adam step per test batch on the mean prediction entropy `softmax_entropy` (Sec. 3.1, Eq. 1).
The adapted parameters carry over from domain to domain (continual Tent: never reset).
Prediction also normalises with the statistics of the batch being predicted (as Tent does).

Defaults: Tent's / CoTTA's CIFAR-10-C settings (Adam, lr 1e-3); one Adam over the whole
stream (the reference code). Needs a backbone with BatchNorm (default `convnet`).
Notes: docs/strategies/tent.md.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from clbench.errors import ClbenchError
from clbench.stream import Scenario
from strategies.tta import TestTimeAdaptation, softmax_entropy


class Tent(TestTimeAdaptation):
    # one Adam over the whole stream of domains, as the reference code (strategies/tta.py)
    defaults = {"backbone": {"name": "convnet"}, "train": {"optimizer_state": "keep"}}

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        self.norms = [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not self.norms:
            raise ClbenchError(
                f"strategy 'tent' needs a backbone with BatchNorm layers; "
                f"backbone.name={cfg.backbone.name} has none (try backbone.name=convnet)"
            )

    def start_adaptation(self) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        for bn in self.norms:
            # Batch statistics only: with track_running_stats off, BN in training mode neither
            # reads nor updates the running buffers (kept, so the state_dict keys never change).
            bn.track_running_stats = False
            if bn.affine:
                bn.weight.requires_grad_(True)
                bn.bias.requires_grad_(True)
        self.train(self.training)

    def train(self, mode: bool = True) -> Tent:
        super().train(mode)
        if bool(self.adapting):
            for bn in self.norms:  # test-batch statistics at prediction time too
                bn.train(True)
        return self

    def adapt_step(self, x: torch.Tensor) -> torch.Tensor:
        return softmax_entropy(self(x)).mean()
