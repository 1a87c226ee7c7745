"""GDumb (Prabhu et al., ECCV 2020, "GDumb: A Simple Approach that Questions Our Progress in
Continual Learning", Sec. 3): a greedy class-balanced sampler and a dumb learner.

The paper's: the sampler sees the stream one sample at a time and stores it while the memory
of k samples has room; once full, a sample whose class holds fewer than k / |Y| samples (|Y|:
classes seen so far) replaces a random sample of the largest class, ties broken at random
(`greedy_add`). Before every evaluation the learner is trained from scratch on the memory
alone, and at inference its logits are masked to the classes seen so far (the mask m).
Our choices: the model is reset to the weights it had at construction (one seeded init,
kept in the state_dict); the stream order within an experience and every random draw of the
sampler come from a generator seeded by (run seed, experience), so the memory after each
experience is a function of the stream (the step plan asks for it in advance) and the same
on every process; the scenario's optimizer and epochs (default 128, the paper's MNIST passes)
replace the paper's SGDR schedule, warm-up, gradient clipping and cutmix.
Notes: docs/strategies/gdumb.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch.utils.data import Dataset, TensorDataset

from clbench.config import StrategyParams
from clbench.errors import ClbenchError
from clbench.seeding import stream_seed
from clbench.stream import Experience, Scenario
from strategies.base import Strategy


def greedy_add(
    memory: dict[int, list[Any]],
    seen: set[int],
    item: Any,
    label: int,
    capacity: int,
    generator: torch.Generator,
) -> None:
    """GDumb's greedy class-balanced sampler (Sec. 3), one stream sample: `memory` maps a
    class to its stored items and `seen` holds the classes seen so far; both are updated.
    Room left: store. Full, and the class holds fewer than capacity / |seen|: evict a random
    item of the largest class (ties: a random one of them) and store. Otherwise: drop."""
    seen.add(label)
    size = sum(len(v) for v in memory.values())
    if size >= capacity:
        if capacity == 0 or len(memory.get(label, [])) * len(seen) >= capacity:
            return
        top = max(len(v) for v in memory.values())
        largest = sorted(c for c, v in memory.items() if len(v) == top)
        c = largest[int(torch.randint(len(largest), (1,), generator=generator))]
        memory[c].pop(int(torch.randint(top, (1,), generator=generator)))
    memory.setdefault(label, []).append(item)


@dataclass
class GDumbParams(StrategyParams):
    buffer_size: int = 200  # k (the paper's MNIST runs: 300, 500 and 4,400)
    mask_unseen: bool = True  # mask the logits of classes not seen yet at inference


class GDumb(Strategy):
    Params = GDumbParams
    defaults = {"train": {"epochs": 128}}  # the paper's passes over the memory on MNIST
    fidelity: ClassVar[dict[str, str]] = {
        "sampler": "paper: greedy class-balanced, evict a random sample of the largest class",
        "learner": "paper: retrained from scratch on the memory before each evaluation",
        "inference": "paper: logits masked to the classes seen so far",
        "training": "our choice: the scenario's optimizer; no SGDR, warm-up, clipping, cutmix",
    }

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        if self.params.buffer_size < 1:
            raise ClbenchError(f"strategy.buffer_size must be >= 1, got {self.params.buffer_size}")
        if cfg.train.optimizer_state != "reset":
            raise ClbenchError("gdumb retrains from scratch: train.optimizer_state must be reset")
        self.init = self.frozen_copy()  # the weights every retraining starts from
        self.init.refresh(self.backbone, self.head)
        # (memory, classes seen) after each experience, the memory as (experience, row) items
        # by class: a cache of a function of the stream, not state (rebuilt after a resume)
        self._memories: list[tuple[dict[int, list[tuple[int, int]]], set[int]]] = []
        self._memories_of: list[Experience] | None = None

    def memory(self, index: int) -> dict[int, list[tuple[int, int]]]:
        """The sampler's memory after the stream's experience `index`."""
        if self._memories_of is not self.stream:
            self._memories, self._memories_of = [], self.stream
        while len(self._memories) <= index:
            i = len(self._memories)
            last, seen = self._memories[-1] if i else ({}, set())
            memory, seen = {c: list(v) for c, v in last.items()}, set(seen)
            g = torch.Generator().manual_seed(stream_seed(int(self.cfg.seed), i, "gdumb"))
            labels = self.stream[i].train.tensors[1]
            for row in torch.randperm(len(labels), generator=g).tolist():
                greedy_add(memory, seen, (i, row), int(labels[row]), self.params.buffer_size, g)
            self._memories.append((memory, seen))
        return self._memories[index][0]

    def train_dataset(self, exp: Experience) -> Dataset:
        memory = self.memory(exp.index)
        items = [it for c in sorted(memory) for it in memory[c]]
        xs = [self.stream[i].train.tensors[0][r] for i, r in items]
        ys = [self.stream[i].train.tensors[1][r] for i, r in items]
        return TensorDataset(torch.stack(xs), torch.stack(ys))

    def before_experience(self, exp: Experience) -> None:
        with torch.no_grad():  # from scratch: the same initial weights every time
            self.backbone.load_state_dict(self.init.backbone.state_dict())
            self.head.load_state_dict(self.init.head.state_dict())

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        logits = self(x)
        k = self.experience_index
        if self.params.mask_unseen and k is not None and k < len(self.stream):
            seen = sorted({c for e in self.stream[: k + 1] for c in e.classes})
            mask = torch.full((logits.shape[1],), float("-inf"), device=logits.device)
            mask[seen] = 0.0
            logits = logits + mask
        return logits.argmax(dim=1)
