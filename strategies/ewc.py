"""Online Elastic Weight Consolidation (Kirkpatrick et al., PNAS 2017, Eq. 3; the online form
of Schwarz et al., ICML 2018, "Progress & Compress", online EWC).

The papers': after each experience the diagonal Fisher F_new of its data is estimated at the
trained weights; the running Fisher becomes F <- decay * F + F_new and the anchor theta* the
weights now. Training on a later experience adds lambda / 2 * sum F (theta - theta*)^2 to the
cross-entropy (strategies/penalties.py: Fisher all-reduced under DDP).
Our choices: the empirical Fisher (true labels) as the mean over samples of each sample's
squared gradient (Avalanche: squared gradients of minibatch-mean losses, about 1/batch of
ours), on the experience's un-augmented training data, in eval mode; every trained
parameter is anchored; lambda and decay are ours, measured on the mnist-5k streams (the
papers tune lambda per benchmark; Avalanche's example's 0.4 and 0.1 are for its own Fisher).
Notes: docs/strategies/ewc.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from clbench.config import StrategyParams
from clbench.errors import ClbenchError
from clbench.stream import Experience, Scenario
from strategies.base import Strategy
from strategies.penalties import Anchors, estimate_fisher


@dataclass
class EWCParams(StrategyParams):
    ewc_lambda: float = 100.0  # lambda (our choice, docs/strategies/ewc.md)
    decay: float = 1.0  # gamma of online EWC (our choice; 1: a plain sum of the Fishers)
    fisher_samples: int | None = None  # per experience, the first ones; None: all
    fisher_batch_size: int = 64  # samples per vmap call (memory only, not the value)


class EWC(Strategy):
    Params = EWCParams
    fidelity: ClassVar[dict[str, str]] = {
        "penalty": "paper: lambda / 2 * sum F (theta - theta*)^2, theta* the last weights",
        "online": "paper (Schwarz et al.): F <- decay * F + F_new after every experience",
        "fisher": "our choice: empirical, per-sample squared gradients, true labels, all data",
        "defaults": "our choice: lambda and decay measured on the mnist-5k streams",
    }

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        p = self.params
        if p.ewc_lambda < 0 or not 0 <= p.decay <= 1:
            raise ClbenchError("strategy.ewc_lambda must be >= 0 and strategy.decay in [0, 1]")
        if p.fisher_batch_size < 1 or (p.fisher_samples is not None and p.fisher_samples < 1):
            raise ClbenchError(
                "strategy.fisher_batch_size and strategy.fisher_samples must be >= 1"
            )
        named = [(n, q) for n, q in self.named_parameters() if q.requires_grad]
        self._names = [n for n, _ in named]
        self._anchored = [q for _, q in named]
        self.ewc = Anchors(self._anchored)  # theta* and the running F, in the state_dict
        self.register_buffer("consolidated", torch.zeros((), dtype=torch.long))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ce = super().loss(x, y)
        if int(self.consolidated) == 0 or self.params.ewc_lambda == 0:
            return ce
        return ce + 0.5 * self.params.ewc_lambda * self.ewc.penalty(self._anchored)

    def after_experience(self, exp: Experience) -> None:
        n = self.params.fisher_samples  # None: the whole experience
        x, y = exp.train.tensors[0][:n], exp.train.tensors[1][:n]
        fisher = estimate_fisher(
            self,
            self._names,
            F.cross_entropy,
            x,
            y,
            self.params.fisher_batch_size,
            self.device,
            self.inputs,
        )
        self.ewc.consolidate(self._anchored, fisher, decay=self.params.decay)
        self.consolidated += 1
