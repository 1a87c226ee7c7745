"""Joint (cumulative) training: at each experience, train on the union of all data seen so far.

The upper bound of a stream that can store everything. Training continues from the
current weights (Avalanche's `Cumulative`), so the last experience sees all the data.
"""

from __future__ import annotations

import math
from itertools import accumulate
from typing import Any

from torch.utils.data import ConcatDataset, Dataset

from clbench.stream import Experience, Scenario
from strategies.base import Strategy


class Joint(Strategy):
    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__(cfg, scenario)
        self._seen: list[Dataset] = []

    def before_experience(self, exp: Experience) -> None:
        self._seen.append(exp.train)

    def restore(self, finished: list[Experience]) -> None:
        self._seen = [e.train for e in finished]

    def step_plan(self, experiences: list[Experience], batch_size: int, epochs: int) -> list[int]:
        # each experience trains on everything seen so far
        sizes = accumulate(len(e.train) for e in experiences)
        return [epochs * math.ceil(n / batch_size) for n in sizes]

    def train_dataset(self, exp: Experience) -> Dataset:
        return ConcatDataset(self._seen)
