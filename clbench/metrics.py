"""Continual-learning metrics over an accuracy matrix (definitions: docs/records.md, Metrics).

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


def harmonic_mean(a: float, b: float) -> float:
    """2ab / (a + b); 0 when both are 0."""
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


def fscil_metrics(acc: Sequence[Sequence[float]], sizes: Sequence[float]) -> dict:
    """FSCIL metrics; session 0 (test experience 0) holds the base classes.

    Per session i: `base_accuracy` A[i][0]; `novel_accuracy` pooled over test experiences
    1..i (None for session 0, which has no novel classes); `harmonic_mean` of the two (None
    for session 0). Scalars: `performance_drop` (PD) = accuracy on all seen classes after the
    first session minus after the last; the last session's base, novel and harmonic mean.
    Accuracies are pooled over samples (equal to the per-class mean when classes have equal
    test sizes, as TEEN's code computes them).
    """
    a = _as_matrix(acc)
    t = a.shape[0]
    w = _weights(sizes, t)
    seen = seen_accuracy(a, w)
    base = [float(a[i, 0]) for i in range(t)]
    novel: list[float | None] = [None]
    hm: list[float | None] = [None]
    for i in range(1, t):
        n = pooled_accuracy(a[i, 1 : i + 1], w[1 : i + 1])
        novel.append(n)
        hm.append(harmonic_mean(base[i], n))
    return {
        "base_accuracy": base,
        "novel_accuracy": novel,
        "harmonic_mean": hm,
        "performance_drop": seen[0] - seen[-1],
        "final_base_accuracy": base[-1],
        "final_novel_accuracy": novel[-1],
        "final_harmonic_mean": hm[-1],
    }


# Extra metrics for a scenario kind, merged into the record's `metrics` (e.g. FSCIL's
# base/novel accuracy). Each takes (accuracy matrix, test sizes) and returns a dict.
KIND_METRICS: dict[str, Callable[[Sequence[Sequence[float]], Sequence[float]], dict]] = {
    "fscil": fscil_metrics,
}


def kind_metrics(kind: str, acc: Sequence[Sequence[float]], sizes: Sequence[float]) -> dict:
    """The extra metrics registered for `kind` (empty when none are)."""
    fn = KIND_METRICS.get(kind)
    return fn(acc, sizes) if fn else {}


def ctta_metrics(acc: Sequence[Sequence[float]], sizes: Sequence[float]) -> dict:
    """CTTA, offline: the error on each domain after the strategy has adapted on all of it
    (1 - A[i][i]), in stream order, and their mean."""
    a = _as_matrix(acc)
    errors = [float(1.0 - a[i, i]) for i in range(a.shape[0])]
    return {"domain_error": errors, "mean_error": float(np.mean(errors))}


KIND_METRICS["ctta"] = ctta_metrics


def ctta_online_metrics(online: Sequence[float]) -> dict:
    """CTTA, online (the CoTTA/VDP papers' metric): the error of the predictions made while
    adapting on each domain, every batch predicted before the update on it, and their mean."""
    errors = [float(1.0 - a) for a in online]
    return {"online_domain_error": errors, "online_mean_error": float(np.mean(errors))}


# Metrics of a kind over the per-experience online accuracies (the predictions a strategy
# made while training on each experience, see `Strategy.online_predictions`).
KIND_ONLINE_METRICS: dict[str, Callable[[Sequence[float]], dict]] = {
    "ctta": ctta_online_metrics,
}


def kind_online_metrics(kind: str, online: Sequence[float | None]) -> dict:
    """The online metrics registered for `kind`; empty when none are, or when some experience
    was not scored online (a strategy that makes no online predictions)."""
    fn = KIND_ONLINE_METRICS.get(kind)
    if fn is None or not online or any(a is None for a in online):
        return {}
    return fn([float(a) for a in online])
