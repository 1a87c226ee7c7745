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
    """An Avalanche dataset's (x, y) as tensors: its own tensors (no copy; a subset gathered
    once) when it is a plain view of one TensorDataset, else read back through a DataLoader.
    The same values in the same order either way."""
    loader = DataLoader(dataset, batch_size=4096, shuffle=False)
    # Starting a DataLoader's iteration draws its base seed from the global RNG: kept, so
    # that the model's initial weights (drawn after this) are those of the committed records
    batches = iter(loader)
    plain = _plain_view(dataset)
    if plain is not None:
        return plain
    xs, ys = [], []
    for batch in batches:
        xs.append(batch[0])
        ys.append(batch[1])
    return TensorDataset(torch.cat(xs), torch.cat(ys).long())


def _plain_view(dataset: Any) -> TensorDataset | None:
    """The (x, y) of an Avalanche dataset that only indexes one TensorDataset without
    transforms (what scenarios/base.py builds), taken from the tensors themselves: the images
    are not held twice (a CUB-sized stream's uint8 images are 1.4 GB). None otherwise."""
    flat = getattr(dataset, "_flat_data", None)
    parts = getattr(flat, "_datasets", None)
    if not parts or len(parts) != 1 or not isinstance(parts[0], TensorDataset):
        return None
    groups = [getattr(flat, k, None) for k in ("_transform_groups", "_frozen_transform_groups")]
    if any(g is None or getattr(g, "transform_groups", None) for g in groups):
        return None  # transforms (or an unknown layout): read it back item by item
    x, y = parts[0].tensors[:2]
    if flat._indices is not None:
        idx = torch.as_tensor(list(flat._indices), dtype=torch.long)
        x, y = x[idx], y[idx]
    return TensorDataset(x.contiguous(), y.long())
