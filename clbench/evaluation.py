"""Scoring a strategy: one row of the accuracy matrix, and the online (predict-then-adapt)
accuracy of an experience.

Under DDP each process scores a disjoint shard of every test set and the counts are summed,
so every test sample counts exactly once whatever the number of processes. A strategy is
anything with `predict(x)` (and `online_predictions(exp)` for online scoring); its `inputs(x)`,
when it has one, turns each raw test batch into model input on the device first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from clbench.distributed import world_rank
from clbench.stream import Experience


def shard_batches(
    data: Dataset, rank: int, world: int, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(x, y) batches of samples rank, rank + W, ... of `data`, in order: slices of its
    tensors, or read through a DataLoader (its `workers`) for a dataset read from disk."""
    if isinstance(data, TensorDataset):
        x, y = data.tensors[0][rank::world], data.tensors[1][rank::world]
        for s in range(0, len(x), batch_size):
            yield x[s : s + batch_size], y[s : s + batch_size]
        return
    shard = Subset(data, range(rank, len(data), world))  # type: ignore[arg-type]
    workers = int(getattr(data, "workers", 0))
    for x, y, *_ in DataLoader(shard, batch_size=batch_size, num_workers=workers):
        yield x, y


def labels_of(data: Dataset) -> torch.Tensor:
    """Every label of `data`, in order (a file-backed dataset keeps them in `labels`)."""
    if isinstance(data, TensorDataset):
        return data.tensors[1]
    return data.labels  # type: ignore[attr-defined]


@torch.no_grad()
def evaluate(
    model: Any, experiences: list[Experience], device: torch.device, batch_size: int
) -> tuple[list[float], list[int]]:
    """Accuracy on each test experience, and its size. Under DDP each process scores a
    disjoint shard and the counts are summed, so every test sample counts exactly once.
    Experiences that share one test set (e.g. CORe50's) are scored once."""
    world, rank = world_rank()
    was_training = model.training
    model.eval()
    model.to(device)
    prepare = getattr(model, "inputs", None) or (lambda b: b.to(device))
    counts = torch.zeros(2, len(experiences), dtype=torch.float64)
    scored: dict[int, int] = {}  # id of a test set -> the column that scored it
    for j, exp in enumerate(experiences):
        first = scored.setdefault(id(exp.test), j)
        if first != j:
            counts[:, j] = counts[:, first]
            continue
        for x, y in shard_batches(exp.test, rank, world, batch_size):
            pred = model.predict(prepare(x)).cpu()
            counts[0, j] += (pred == y).sum().item()
            counts[1, j] += len(y)
    if world > 1:
        on = device if dist.get_backend() == "nccl" else torch.device("cpu")
        reduced = counts.to(on)
        dist.all_reduce(reduced)
        counts = reduced.cpu()
    model.train(was_training)
    return (counts[0] / counts[1].clamp(min=1)).tolist(), [int(n) for n in counts[1].tolist()]


@torch.no_grad()
def online_accuracy(model: Any, exp: Experience, device: torch.device) -> float | None:
    """Accuracy of the predictions the strategy made on `exp` while training on it (each
    batch predicted before the update on it; `Strategy.online_predictions`), scored against
    `exp.test`'s labels; None when the strategy makes none. Under DDP each process holds the
    predictions of its own batches (-1 elsewhere): the maximum over processes joins them."""
    pred = model.online_predictions(exp)
    if pred is None:
        return None
    y = labels_of(exp.test)
    pred = pred.to(torch.int64).reshape(-1)
    if len(pred) != len(y):
        raise ValueError(f"online_predictions gave {len(pred)} predictions for {len(y)} samples")
    world, _ = world_rank()
    if world > 1:
        on = device if dist.get_backend() == "nccl" else torch.device("cpu")
        joined = pred.to(on)
        dist.all_reduce(joined, op=dist.ReduceOp.MAX)
        pred = joined.cpu()
    return float((pred.cpu() == y).double().mean())  # an unpredicted sample (-1) is an error
