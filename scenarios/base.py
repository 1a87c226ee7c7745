"""Scenario building blocks: Avalanche streams over in-memory tensors, materialised per experience.

A scenario family builds an Avalanche benchmark (`class_incremental_benchmark` or
`benchmark_from_datasets`) inside a `Scenario` (clbench/stream.py); the runner then reads
every experience back as tensors once, so training never goes through per-sample Python
transforms for data that fits in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from clbench.config import ScenarioParams
from clbench.stream import Experience, Scenario  # noqa: F401 (re-exported for compatibility)


@dataclass
class SplitParams(ScenarioParams):
    """Parameters of an even class-incremental split of a 10-class digit stream."""

    n_experiences: int = 5
    class_order: list[int] | None = None  # None: 0, 1, ..., 9
    class_order_seed: int | None = None  # without class_order: a seeded permutation
    online: bool = False  # one pass over each experience in batches of batch_size
    batch_size: int = 10


@dataclass(frozen=True)
class ScenarioSpec:
    """What a registry entry points to: parameters, recommended defaults, and the builder."""

    params: type[ScenarioParams]
    build: Callable[[Any, Any], Scenario]  # (cfg.scenario, cfg.data) -> Scenario
    defaults: dict[str, Any] = field(default_factory=dict)


def _avalanche_dataset(x: torch.Tensor, y: torch.Tensor) -> Any:
    from avalanche.benchmarks.utils import as_classification_dataset

    ds = TensorDataset(x, y)
    ds.targets = y.tolist()  # type: ignore[attr-defined]
    return as_classification_dataset(ds)


def class_incremental(
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    class_order: Sequence[int],
    classes_per_exp: Sequence[int],
) -> Any:
    """An Avalanche class-incremental benchmark over tensors, with a fixed class order."""
    from avalanche.benchmarks import class_incremental_benchmark

    return class_incremental_benchmark(
        {"train": _avalanche_dataset(*train), "test": _avalanche_dataset(*test)},
        class_order=list(class_order),
        num_classes_per_exp=list(classes_per_exp),
    )


def domain_incremental(
    experiences: Sequence[
        tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    ],
) -> Any:
    """An Avalanche benchmark with one (train, test) pair of tensors per experience."""
    from avalanche.benchmarks import benchmark_from_datasets

    return benchmark_from_datasets(
        train=[_avalanche_dataset(*tr) for tr, _ in experiences],
        test=[_avalanche_dataset(*te) for _, te in experiences],
    )


def stratified_split(y: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified train/test split with exactly `n_test` test samples."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=n_test, stratify=y, random_state=seed)
    return np.sort(tr), np.sort(te)


def split_classes(num_classes: int, n_experiences: int, what: str) -> list[int]:
    """Classes per experience for an even class-incremental split (error when uneven)."""
    from clbench.errors import ClbenchError

    if n_experiences < 1 or num_classes % n_experiences:
        raise ClbenchError(
            f"{what}: scenario.n_experiences={n_experiences} must divide {num_classes} classes"
        )
    return [num_classes // n_experiences] * n_experiences


def resolve_class_order(
    class_order: Sequence[int] | None, num_classes: int, what: str, seed: int | None = None
) -> list[int]:
    """`class_order`, else a permutation seeded by `seed` (numpy's legacy generator: the
    permutation PyCIL-style code gets from seed 1993), else 0..n-1."""
    from clbench.errors import ClbenchError

    if class_order is None and seed is not None:
        return [int(c) for c in np.random.RandomState(seed).permutation(num_classes)]
    order = list(range(num_classes)) if class_order is None else [int(c) for c in class_order]
    if sorted(order) != list(range(num_classes)):
        raise ClbenchError(
            f"{what}: scenario.class_order must be a permutation of 0..{num_classes - 1}"
        )
    return order
