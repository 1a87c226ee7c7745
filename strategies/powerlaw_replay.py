"""Power-law rehearsal (Gandhi, Shah, Marupudi, Varma, "Catastrophic Interference is Mitigated in
Naturalistic Power-Law Learning Environments", arXiv 2401.10393; v3: "Natural Mitigation of
Catastrophic Interference: Continual Learning in Power-Law Learning Environments").

The paper's method section (the power-law learning environment, after Anderson & Schooler,
1991; section number not recovered, no public code): the chance that an old task comes back
decays as a power of the time since it was last seen. Here, at every optimizer step one past
task i is drawn with P(i) proportional to lag_i^-alpha (`powerlaw_probs`) and
`rehearsal_size` of its stored examples are appended to the batch; the revisit resets the
task's lag (`lag_from=last-seen`; `first-learned` never resets it).

Our choices (labelled in docs/strategies/powerlaw-replay.md): rehearsal interleaved with
every step, time in optimizer steps, one task per step, a memory of `buffer_size` examples
split evenly over the past tasks (the same budget as `replay`), DDP-exact like replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from clbench.config import StrategyParams
from clbench.errors import ClbenchError
from clbench.stream import Experience, Scenario
from strategies.base import Strategy

LAG_FROM = ("last-seen", "first-learned")


def powerlaw_probs(lags: torch.Tensor, alpha: float) -> torch.Tensor:
    """P(i) proportional to lags[i] ** -alpha (lags >= 1), float64."""
    w = lags.to(torch.float64).pow(-alpha)
    return w / w.sum()


def sample_tasks(
    lags: torch.Tensor, alpha: float, n: int, generator: torch.Generator
) -> torch.Tensor:
    """`n` independent draws of a position in `lags` from the power law (with replacement)."""
    return torch.multinomial(powerlaw_probs(lags, alpha), n, replacement=True, generator=generator)


def share(buffer_size: int | None, n_tasks: int, task_size: int) -> int:
    """Examples kept per past task: an even split of the buffer (all when None)."""
    if buffer_size is None:
        return task_size
    return min(task_size, buffer_size // max(n_tasks, 1))


@dataclass
class PowerLawReplayParams(StrategyParams):
    alpha: float = 1.0  # power-law exponent (the notes sweep 0.5, 1, 2); 0 = uniform over tasks
    rehearsal_size: int | None = None  # rehearsed examples per step (global); None: batch size
    buffer_size: int | None = 200  # stored past examples in all; None: keep everything
    lag_from: str = "last-seen"  # last-seen | first-learned


class PowerLawReplay(Strategy):
    Params = PowerLawReplayParams
    search_space = {"train.lr": (1e-3, 0.1, "log"), "strategy.alpha": (0.0, 3.0, "linear")}

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        p = self.params
        if p.alpha < 0:
            raise ClbenchError(f"strategy.alpha must be >= 0, got {p.alpha}")
        if p.buffer_size is not None and p.buffer_size < 0:
            raise ClbenchError(f"strategy.buffer_size must be >= 0 or null, got {p.buffer_size}")
        if p.lag_from not in LAG_FROM:
            raise ClbenchError(
                f"unknown strategy.lag_from '{p.lag_from}'; valid: {', '.join(LAG_FROM)}"
            )
        self.rehearsal_size = p.rehearsal_size or cfg.train.batch_size
        if self.rehearsal_size < 1:
            raise ClbenchError("strategy.rehearsal_size must be >= 1")
        self.memory: list[tuple[torch.Tensor, torch.Tensor]] = []  # per past task, stream order
        self.last_seen: list[int] = []  # per past task: the step it was last seen
        self.clock = 0  # optimizer steps taken in the stream
        self.revisits: list[int] = []  # per past task: how often it was rehearsed (diagnostic)

    def get_extra_state(self) -> dict[str, Any]:
        return {
            "x": [x for x, _ in self.memory],
            "y": [y for _, y in self.memory],
            "last_seen": list(self.last_seen),
            "clock": self.clock,
            "revisits": list(self.revisits),
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.memory = list(zip(state["x"], state["y"], strict=True))
        self.last_seen, self.revisits = list(state["last_seen"]), list(state["revisits"])
        self.clock = int(state["clock"])

    def after_experience(self, exp: Experience) -> None:
        x, y = exp.train.tensors[0], exp.train.tensors[1]
        g = self.rng("buffer-order")
        order = torch.randperm(len(x), generator=g)
        self.memory.append((x[order], y[order]))
        self.last_seen.append(self.clock)
        self.revisits.append(0)
        # shrink every task's share to an even split of the buffer (a prefix: nested subsets)
        keep = [share(self.params.buffer_size, len(self.memory), len(mx)) for mx, _ in self.memory]
        self.memory = [(mx[:k], my[:k]) for (mx, my), k in zip(self.memory, keep, strict=True)]

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.clock += 1
        tasks = [i for i, (mx, _) in enumerate(self.memory) if len(mx)]
        if tasks:  # the same draws on every process (one shared stream)
            g = self.rng("replay-batches")
            lags = torch.tensor([self.clock - self.last_seen[i] for i in tasks])
            i = tasks[int(sample_tasks(lags, self.params.alpha, 1, g))]
            mx, my = self.memory[i]
            idx = torch.randint(len(mx), (self.rehearsal_size,), generator=g)
            world, rank = self.trainer.world_size, self.trainer.global_rank
            x = torch.cat([x, self.inputs(mx[idx][rank::world])])
            y = torch.cat([y, my[idx][rank::world].to(y.device)])
            self.revisits[i] += 1
            if self.params.lag_from == "last-seen":
                self.last_seen[i] = self.clock
        return F.cross_entropy(self(self.augment(x)), y)
