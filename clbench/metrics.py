"""Continual-learning metrics over an accuracy matrix (definitions: DESIGN.md).

A[i][j] is the accuracy on test experience j after training experience i; T experiences.
`sizes[j]` is the number of test samples of experience j: accuracies over several
experiences are sample-weighted, so they equal the accuracy on the union of their data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def _as_matrix(acc: Sequence[Sequence[float]]) -> np.ndarray:
    a = np.asarray(acc, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(f"accuracy matrix must be square and non-empty, got shape {a.shape}")
    return a


def _weights(sizes: Sequence[float] | None, t: int) -> np.ndarray:
    return np.ones(t) if sizes is None else np.asarray(sizes, dtype=float)


def pooled_accuracy(accs: Sequence[float], sizes: Sequence[float]) -> float:
    """Accuracy on the union of several test sets, from their accuracies and sizes."""
    return float(np.average(np.asarray(accs, dtype=float), weights=np.asarray(sizes, dtype=float)))


def seen_accuracy(
    acc: Sequence[Sequence[float]], sizes: Sequence[float] | None = None
) -> list[float]:
    """Accuracy on all test data seen so far after each experience i (experiences 0..i)."""
    a = _as_matrix(acc)
    w = _weights(sizes, a.shape[0])
    return [pooled_accuracy(a[i, : i + 1], w[: i + 1]) for i in range(a.shape[0])]


def final_accuracy(acc: Sequence[Sequence[float]], sizes: Sequence[float] | None = None) -> float:
    """Accuracy on the union of every test experience after the last one."""
    return seen_accuracy(acc, sizes)[-1]


def average_incremental_accuracy(
    acc: Sequence[Sequence[float]], sizes: Sequence[float] | None = None
) -> float:
    """Mean over experiences of the accuracy on all seen test data."""
    return float(np.mean(seen_accuracy(acc, sizes)))


def forgetting(acc: Sequence[Sequence[float]]) -> float:
    """Mean over j < T-1 of max_{l < T-1} A[l][j] - A[T-1][j]; 0 for one experience."""
    a = _as_matrix(acc)
    t = a.shape[0]
    if t < 2:
        return 0.0
    best = a[: t - 1, : t - 1].max(axis=0)
    return float(np.mean(best - a[t - 1, : t - 1]))


def backward_transfer(acc: Sequence[Sequence[float]]) -> float:
    """BWT: mean over j < T-1 of A[T-1][j] - A[j][j]; 0 for one experience."""
    a = _as_matrix(acc)
    t = a.shape[0]
    if t < 2:
        return 0.0
    return float(np.mean(a[t - 1, : t - 1] - np.diag(a)[: t - 1]))


def summarize(
    acc: Sequence[Sequence[float]], sizes: Sequence[float] | None = None
) -> dict[str, float]:
    """The record's summary metrics."""
    return {
        "final_accuracy": final_accuracy(acc, sizes),
        "average_incremental_accuracy": average_incremental_accuracy(acc, sizes),
        "forgetting": forgetting(acc),
        "bwt": backward_transfer(acc),
    }


# Extra metrics for a scenario kind, merged into the record's `metrics` (e.g. FSCIL's
# base/novel accuracy). Each takes (accuracy matrix, test sizes) and returns a dict.
KIND_METRICS: dict[str, Callable[[Sequence[Sequence[float]], Sequence[float]], dict]] = {}


def kind_metrics(kind: str, acc: Sequence[Sequence[float]], sizes: Sequence[float]) -> dict:
    """The extra metrics registered for `kind` (empty when none are)."""
    fn = KIND_METRICS.get(kind)
    return fn(acc, sizes) if fn else {}
