"""The stream a strategy trains on: `Scenario` (a built stream and what strategies need to know
about it) and `Experience` (one experience of it, as tensors).

Core types, so that strategies and the runner need not import the scenario families
(scenarios/), which build them from Avalanche benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset


@dataclass
class Experience:
    """One experience of a stream, as tensors."""

    index: int
    classes: list[int]
    train: TensorDataset
    test: TensorDataset
    validation: TensorDataset | None = None  # held out of the training data (validation.py)


@dataclass
class Scenario:
    """A built stream and what strategies need to know about it."""

    name: str
    num_classes: int
    input_shape: tuple[int, ...]
    class_order: list[int]
    benchmark: Any  # avalanche CLScenario: train_stream / test_stream
    info: dict[str, Any] = field(default_factory=dict)

    def experiences(self) -> list[Experience]:
        """Every experience, train and test, read back from the Avalanche streams as tensors."""
        train, test = self.benchmark.train_stream, self.benchmark.test_stream
        out = []
        for i, (tr, te) in enumerate(zip(train, test, strict=True)):
            tr_ds, te_ds = _to_tensors(tr.dataset), _to_tensors(te.dataset)
            classes = getattr(tr, "classes_in_this_experience", None)
            if classes is None:
                classes = torch.unique(tr_ds.tensors[1]).tolist()
            out.append(Experience(i, sorted(int(c) for c in classes), tr_ds, te_ds))
        return out


def _to_tensors(dataset: Any) -> TensorDataset:
    xs, ys = [], []
    for batch in DataLoader(dataset, batch_size=4096, shuffle=False):
        xs.append(batch[0])
        ys.append(batch[1])
    return TensorDataset(torch.cat(xs), torch.cat(ys).long())
