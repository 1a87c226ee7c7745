"""Scoring a strategy: one row of the accuracy matrix, and the online (predict-then-adapt)
accuracy of an experience.

Under DDP each process scores a disjoint shard of every test set and the counts are summed,
so every test sample counts exactly once whatever the number of processes. A strategy is
anything with `predict(x)` (and `online_predictions(exp)` for online scoring).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from clbench.distributed import world_rank
from clbench.stream import Experience


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
    counts = torch.zeros(2, len(experiences), dtype=torch.float64)
    scored: dict[int, int] = {}  # id of a test set -> the column that scored it
    for j, exp in enumerate(experiences):
        first = scored.setdefault(id(exp.test), j)
        if first != j:
            counts[:, j] = counts[:, first]
            continue
        x, y = exp.test.tensors[0][rank::world], exp.test.tensors[1][rank::world]
        for s in range(0, len(x), batch_size):
            pred = model.predict(x[s : s + batch_size].to(device)).cpu()
            counts[0, j] += (pred == y[s : s + batch_size]).sum().item()
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
    y = exp.test.tensors[1]
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
