"""Validation streams (issue #15, AlgoPerf's rule: tune on validation data, never on test data).

`hold_out` moves a fixed, seeded fraction of each experience's training data into
`Experience.validation`, for every scenario family alike (the runner applies it to the built
stream); `validation_view` turns those sets into experiences the test-data evaluation scores
unchanged, so the record gains a validation accuracy matrix beside the test one.

OUR CHOICES: the split is per class (each class of an experience gives round(fraction * n)
of its n samples, half rounded up, at most n - 1, so a class is never left out of training), drawn by a
generator seeded by `validation_seed` and the experience index alone: the same split for
every run seed, trial and strategy of a study. Off (None or 0): the stream is untouched.
Scenarios whose training data carry no labels (CTTA) cannot hold out validation data.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch.utils.data import TensorDataset

from clbench.errors import ClbenchError
from clbench.stream import Experience


def split_indices(
    y: torch.Tensor, fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) indices, each sorted: per class, round(fraction * n) of its n
    samples (half up, at most n - 1) drawn without replacement go to validation."""
    held: list[torch.Tensor] = []
    for c in torch.unique(y).tolist():  # sorted classes: the draws do not depend on order
        idx = torch.nonzero(y == c).flatten()
        k = min(math.floor(fraction * len(idx) + 0.5), len(idx) - 1)  # half rounds up
        held.append(idx[torch.randperm(len(idx), generator=generator)[:k]])
    val = torch.sort(torch.cat(held)).values if held else torch.zeros(0, dtype=torch.long)
    keep = torch.ones(len(y), dtype=torch.bool)
    keep[val] = False
    return torch.nonzero(keep).flatten(), val


def hold_out(
    experiences: list[Experience], fraction: float | None, seed: int | None, what: str = ""
) -> list[Experience]:
    """The experiences with `fraction` of each one's training data moved to `validation`."""
    if not fraction:
        return experiences
    out = []
    for exp in experiences:
        if len(exp.train.tensors) < 2:
            raise ClbenchError(
                f"scenario.validation_fraction: {what or 'this scenario'} has no labels in its "
                "training data to hold out validation data from"
            )
        g = torch.Generator().manual_seed((seed or 0) * 1_000_003 + exp.index)
        tr, val = split_indices(exp.train.tensors[1], float(fraction), g)
        x, y = exp.train.tensors[0], exp.train.tensors[1]
        out.append(
            replace(
                exp, train=TensorDataset(x[tr], y[tr]), validation=TensorDataset(x[val], y[val])
            )
        )
    return out


def validation_view(experiences: list[Experience]) -> list[Experience] | None:
    """The experiences with their validation data as test data (what `evaluate` scores);
    None when the stream holds no validation data."""
    if any(e.validation is None for e in experiences):
        return None
    return [replace(e, test=e.validation) for e in experiences]
