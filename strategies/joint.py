"""Joint (cumulative) training: at each experience, train on the union of all data seen so far.

The upper bound of a stream that can store everything. Training continues from the
current weights (Avalanche's `Cumulative`), so the last experience sees all the data.
Notes: docs/strategies/joint.md.
"""

from __future__ import annotations

from torch.utils.data import ConcatDataset, Dataset

from clbench.stream import Experience
from strategies.base import Strategy


class Joint(Strategy):
    def train_dataset(self, exp: Experience) -> Dataset:
        # everything seen so far: the stream up to and including `exp`
        return ConcatDataset([e.train for e in self.stream[: exp.index + 1]])
