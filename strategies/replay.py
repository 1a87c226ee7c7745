"""Experience replay with a reservoir buffer (Chaudhry et al., 2019, "On Tiny Episodic
Memories in Continual Learning", Sec. 3: ER with reservoir sampling).

The paper's: each training batch of the current experience is concatenated with a batch
drawn uniformly from the buffer; after an experience, its samples enter the buffer by
reservoir sampling (Vitter's algorithm R, `reservoir_slots`), so the buffer stays a uniform
sample of everything seen. Replayed samples are augmented too.

Our choices, for exactness under DDP: the buffer is updated once per experience (in a seeded
order), not per batch, and the replay batch is drawn from a generator shared by all
processes, each taking its slice: N processes train on the same global batches as one.
`strategy.buffer_policy=fifo-sets`: the buffer is the last `fifo_sets` experiences, whole;
each step mixes in replay_batch_size of them, distinct (the replay variant of Kowadlo et al.,
arXiv 2209.07863: a FIFO of the last B support sets, k samples a step).
Notes: docs/strategies/replay.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from clbench.config import StrategyParams
from clbench.distributed import world_rank
from clbench.errors import ClbenchError
from clbench.stream import Experience, Scenario
from strategies.base import Strategy


def reservoir_slots(
    n_seen: int, n_new: int, capacity: int, generator: torch.Generator
) -> list[tuple[int, int]]:
    """Reservoir sampling (Vitter's algorithm R) for `n_new` items after `n_seen` earlier ones.

    Returns (slot, new_item_index) assignments to apply in order; items not listed are dropped.
    Item number t (0-based over the whole stream) fills slot t while t < capacity, else it
    replaces slot j, j uniform in [0, t], when j < capacity.
    """
    out = []
    for i in range(n_new):
        t = n_seen + i
        if t < capacity:
            out.append((t, i))
        else:
            j = int(torch.randint(t + 1, (1,), generator=generator))
            if j < capacity:
                out.append((j, i))
    return out


class ReservoirBuffer:
    """A fixed-capacity buffer of (x, y) samples filled by reservoir sampling, with optional
    extra per-sample tensors (e.g. DER++'s logits) passed to `add` by name."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.n_seen = 0
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None
        self.extra: dict[str, torch.Tensor] = {}
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, **extra: torch.Tensor
    ) -> None:
        if self.capacity == 0:
            self.n_seen += len(x)
            return
        if self.x is None:  # zeros, not empty: unfilled slots hash alike on every DDP process
            self.x = torch.zeros((self.capacity, *x.shape[1:]), dtype=x.dtype)
            self.y = torch.zeros((self.capacity,), dtype=y.dtype)
        for name, t in extra.items():
            if name not in self.extra:
                self.extra[name] = torch.zeros((self.capacity, *t.shape[1:]), dtype=t.dtype)
        assert self.y is not None
        for slot, i in reservoir_slots(self.n_seen, len(x), self.capacity, generator):
            self.x[slot] = x[i]
            self.y[slot] = y[i]
            for name, t in extra.items():
                self.extra[name][slot] = t[i]
            self.size = max(self.size, slot + 1)
        self.n_seen += len(x)

    def state(self) -> dict[str, Any]:
        empty = torch.empty(0)
        return {
            "n_seen": self.n_seen,
            "size": self.size,
            "x": empty if self.x is None else self.x,
            "y": empty if self.y is None else self.y,
            **{f"extra.{name}": t for name, t in self.extra.items()},
        }

    def load(self, state: dict[str, Any]) -> None:
        self.n_seen, self.size = int(state["n_seen"]), int(state["size"])
        self.x = None if state["x"].numel() == 0 else state["x"]
        self.y = None if state["y"].numel() == 0 else state["y"]
        self.extra = {k[len("extra.") :]: v for k, v in state.items() if k.startswith("extra.")}

    def indices(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """`n` slots drawn uniformly with replacement."""
        return torch.randint(self.size, (n,), generator=generator)

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.x is not None and self.y is not None
        idx = self.indices(n, generator)
        return self.x[idx], self.y[idx]


class FifoSetBuffer:
    """The samples of the last `n_sets` experiences, whole: adding one drops the oldest."""

    def __init__(self, n_sets: int) -> None:
        self.n_sets = n_sets
        self.sets: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __len__(self) -> int:
        return sum(len(y) for _, y in self.sets)

    def add(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> None:
        self.sets.append((x.clone(), y.clone()))
        del self.sets[: max(len(self.sets) - self.n_sets, 0)]  # first in, first out

    def _flat(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat([x for x, _ in self.sets]), torch.cat([y for _, y in self.sets])

    def state(self) -> dict[str, Any]:
        if not self.sets:
            return {"x": torch.empty(0), "y": torch.empty(0), "sizes": torch.empty(0)}
        x, y = self._flat()
        return {"x": x, "y": y, "sizes": torch.tensor([len(s[1]) for s in self.sets])}

    def load(self, state: dict[str, Any]) -> None:
        sizes = [int(n) for n in state["sizes"].tolist()]
        if not sizes:
            self.sets = []
            return
        self.sets = list(zip(state["x"].split(sizes), state["y"].split(sizes), strict=True))

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """min(n, len) distinct samples, uniformly (the paper's random.sample)."""
        x, y = self._flat()
        idx = torch.randperm(len(y), generator=generator)[:n]
        return x[idx], y[idx]


BUFFER_POLICIES = ("reservoir", "fifo-sets")


@dataclass
class ReplayParams(StrategyParams):
    buffer_size: int = 200  # reservoir: capacity in samples
    replay_batch_size: int | None = None  # global; None: the same as train.batch_size
    buffer_policy: str = "reservoir"  # reservoir | fifo-sets
    fifo_sets: int = 1  # fifo-sets: experiences kept (the paper's B)


class Replay(Strategy):
    Params = ReplayParams

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        if self.params.buffer_size < 0:
            raise ClbenchError(f"strategy.buffer_size must be >= 0, got {self.params.buffer_size}")
        self.replay_batch_size = self.params.replay_batch_size or cfg.train.batch_size
        if self.replay_batch_size < 1:
            raise ClbenchError("strategy.replay_batch_size must be >= 1")
        policy = self.params.buffer_policy
        if policy not in BUFFER_POLICIES:
            raise ClbenchError(
                f"unknown strategy.buffer_policy '{policy}'; valid: {', '.join(BUFFER_POLICIES)}"
            )
        if self.params.fifo_sets < 0:
            raise ClbenchError(f"strategy.fifo_sets must be >= 0, got {self.params.fifo_sets}")
        self.buffer: ReservoirBuffer | FifoSetBuffer = (
            FifoSetBuffer(self.params.fifo_sets)
            if policy == "fifo-sets"
            else ReservoirBuffer(self.params.buffer_size)
        )

    def get_extra_state(self) -> dict[str, Any]:
        return {"buffer": self.buffer.state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.buffer.load(state["buffer"])

    def after_experience(self, exp: Experience) -> None:
        x, y = exp.train.tensors[0], exp.train.tensors[1]
        g = self.rng("buffer-order")
        order = torch.randperm(len(x), generator=g)  # the stream order within the experience
        self.buffer.add(x[order], y[order], g)

    def with_replayed(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch followed by this process's slice of a replay batch (nothing while the
        buffer is empty): the same draw on every process (one shared stream)."""
        if not len(self.buffer):
            return x, y
        world, rank = world_rank()
        bx, by = self.buffer.sample(self.replay_batch_size, self.rng("replay-batches"))
        return torch.cat([x, self.inputs(bx[rank::world])]), torch.cat(
            [y, by[rank::world].to(y.device)]
        )

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = self.with_replayed(x, y)
        return F.cross_entropy(self(self.augment(x)), y)  # replayed samples augmented too
