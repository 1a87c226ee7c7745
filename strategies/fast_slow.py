"""Fast and slow weights for few-shot continual learning (Wang, Li, Zhong, Zhu, "Few-shot
Continual Learning: a Brain-inspired Approach", arXiv 2104.09034). No public code, and only
the abstract could be read: the mechanism is the paper's, the rules our choice (the record's
`fidelity` says so).

Following the paper: fast weights learn the task sequence, slow weights serve few-shot
inference, with a two-step consolidation after every session.
Our choices for the rules:
- step 1, fast weights: online EWC (CE + penalty / 2 * sum F (theta - theta*)^2, diagonal
  Fisher, strategies/penalties.py) anchoring them to the previous session's values;
- step 2, slow weights: theta_slow <- theta_slow + beta (theta_fast - theta_slow);
- backbone + cosine classifier whose rows are imprinted with class means (as TEEN, Qi et
  al. 2018); incremental sessions train with plain SGD at `inc_lr`;
- inference: the slow network's cosine classifier over the classes seen so far.
Notes: docs/strategies/fast-slow.md.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from clbench.config import StrategyParams
from clbench.errors import ClbenchError
from clbench.stream import Experience, Scenario
from strategies.base import Strategy
from strategies.penalties import Anchors, estimate_fisher
from strategies.prototypes import cosine_logits, experience_class_means

# -- pure math ----------------------------------------------------------------------------


@torch.no_grad()
def consolidate(slow: Iterable[torch.Tensor], fast: Iterable[torch.Tensor], beta: float) -> None:
    """In place: slow <- slow + beta * (fast - slow), tensor by tensor (step 2)."""
    for s, f in zip(slow, fast, strict=True):
        s.add_(beta * (f.to(s) - s))


# -- strategy -----------------------------------------------------------------------------


@dataclass
class FastSlowParams(StrategyParams):
    penalty: float = 1000.0  # lambda of step 1 (our choice)
    beta: float = 0.5  # slow-weight step after an incremental session (our choice)
    base_beta: float = 1.0  # ... after the base session (our choice)
    inc_epochs: int = 10  # fast-weight epochs per incremental session (our choice)
    inc_lr: float = 0.001  # their learning rate, plain SGD (our choice)
    fisher_samples: int = 500  # per session, the first ones in the data's order (our choice)
    temperature: float = 16.0
    fisher_batch_size: int = 32
    encode_batch_size: int = 256


class FastSlow(Strategy):
    Params = FastSlowParams
    fidelity: ClassVar[dict[str, str]] = {
        "source": "arXiv 2104.09034; no public code; update rules not read: mechanism only",
        "fast_slow_pair": "paper: fast weights for the sequence, slow for few-shot inference",
        "step1_fast": "our choice: online EWC (diagonal Fisher) anchoring the fast weights",
        "step2_slow": "our choice: slow <- slow + beta (fast - slow) after each session",
        "inference": "our choice: the slow network's cosine classifier; new rows imprinted",
    }

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        p = self.params
        if p.penalty < 0 or not (0 <= p.beta <= 1 and 0 <= p.base_beta <= 1):
            raise ClbenchError(
                "strategy.penalty must be >= 0, strategy.beta and strategy.base_beta in [0, 1]"
            )
        if p.temperature <= 0 or p.inc_epochs < 0:
            raise ClbenchError("strategy.temperature must be > 0 and strategy.inc_epochs >= 0")
        self.head = nn.Linear(self.feature_dim, self.num_classes, bias=False)
        # Slow weights: a copy of the network, never trained by the optimizer.
        self.slow = nn.ModuleDict(
            {"backbone": copy.deepcopy(self.backbone), "head": copy.deepcopy(self.head)}
        ).requires_grad_(False)
        self._fast_names = [n for n, _ in self.named_parameters() if not n.startswith("slow.")]
        self._fast_params = [dict(self.named_parameters())[n] for n in self._fast_names]
        self.ewc = Anchors(self._fast_params)  # step 1's anchors and Fisher
        self.register_buffer("seen", torch.zeros(self.num_classes, dtype=torch.bool))
        self.register_buffer("sessions", torch.zeros((), dtype=torch.long))

    def slow_params(self) -> list[torch.Tensor]:
        return list(self.slow["backbone"].parameters()) + list(self.slow["head"].parameters())

    def train(self, mode: bool = True) -> FastSlow:
        super().train(mode)
        self.slow.eval()
        return self

    # -- fast weights ---------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cosine_logits(self.backbone(x), self.head.weight, self.params.temperature, self.seen)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(self(self.augment(x)), y)
        if int(self.sessions) == 0 or self.params.penalty == 0:
            return ce
        return ce + 0.5 * self.params.penalty * self.ewc.penalty(self._fast_params)

    def param_groups(self) -> list[dict[str, Any]]:
        return [{"params": self._fast_params}]  # never the slow weights

    def optimizer_settings(self) -> dict[str, Any]:
        if int(self.sessions) == 0:
            return super().optimizer_settings()
        return {"name": "sgd", "lr": self.params.inc_lr}  # plain SGD in incremental sessions

    # -- runner hooks ---------------------------------------------------------------------
    def train_epochs(self, exp: Experience) -> int:
        return int(self.cfg.train.epochs) if exp.index == 0 else self.params.inc_epochs

    @torch.no_grad()
    def _imprint(self, exp: Experience) -> None:
        """The fast classifier rows of `exp`'s classes become their mean fast features."""
        was = self.backbone.training
        means = experience_class_means(self, exp, self.params.encode_batch_size)
        self.head.weight[exp.classes] = means.to(self.head.weight)
        self.backbone.train(was)

    def before_experience(self, exp: Experience) -> None:
        self.seen[exp.classes] = True
        if int(self.sessions) > 0:  # new classes start from their shots' mean
            self._imprint(exp)

    def after_experience(self, exp: Experience) -> None:
        first = int(self.sessions) == 0
        if first:  # base rows as class means too, so that imprinted rows compete fairly
            self._imprint(exp)
        # Step 1: consolidate the fast weights (Fisher and anchor for the next sessions).
        n = self.params.fisher_samples  # the first ones, in the data's order
        x, y = exp.train.tensors[0][:n], exp.train.tensors[1][:n]
        fisher = estimate_fisher(
            self,
            self._fast_names,
            F.cross_entropy,
            x,
            y,
            self.params.fisher_batch_size,
            self.device,
            self.inputs,
        )
        self.ewc.consolidate(self._fast_params, fisher)
        # Step 2: the slow weights move towards the fast ones.
        beta = self.params.base_beta if first else self.params.beta
        consolidate(self.slow_params(), self._fast_params, beta)
        # Slow buffers (batch-norm statistics) follow the same rule.
        slow_bufs = [b for b in self.slow["backbone"].buffers() if b.is_floating_point()]
        fast_bufs = [b for b in self.backbone.buffers() if b.is_floating_point()]
        consolidate(slow_bufs, fast_bufs, beta)
        self.sessions += 1

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        f = self.slow["backbone"](x)
        w = self.slow["head"].weight
        return cosine_logits(f, w, self.params.temperature, self.seen).argmax(1)
