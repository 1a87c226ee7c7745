"""The continual few-shot instance test (Kowadlo, Ahmed, Mayan, Rawlinson, "Expanding continual
few-shot benchmarks to include recognition of specific instances", arXiv 2209.07863, Sec. 3;
code: Cerenaut/cfsl, data.py and tfms.py).

An episode is `n_support_sets` (NSS) support sets presented in order. The paper's instance
test is N = 1: one class is drawn, then K·NSS distinct images of it; set i holds images
iK..(i+1)K-1, each image its own label, and the target set is the support set itself. Here
each set is one experience (train = test = its K images), so the runner's accuracy on
experiences 0..i is the accuracy on every exemplar seen so far. The paper's variants corrupt
the target copy only: `occlusion` (a disk of radius int(f·H) pixels at a uniform centre set to
`occlusion_value`, the code's 'circle') then `noise` (int(f·C·H·W) pixels replaced by U(0, 1),
the code's 'sp_float'), both on [0, 1] images before normalisation; 0 turns them off.
Our choices: one episode per run, drawn with `episode_seed` (default: the run's seed); the
corruptions are drawn once per episode; digit datasets as offline stand-ins for Omniglot.
Notes and measured numbers: docs/scenarios/instance.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from clbench.config import ScenarioParams
from clbench.errors import ClbenchError
from clbench.seeding import stream_seed
from clbench.stream import Scenario
from scenarios.base import ScenarioSpec, domain_incremental


@dataclass
class InstanceParams(ScenarioParams):
    n_support_sets: int = 10  # NSS
    n_shots: int = 2  # K: distinct images (= classes) per support set
    episode_seed: int | None = None  # draws the class and the images; registry default: seed
    source_class: int | None = None  # the class the images come from; None: drawn
    occlusion: float = 0.0  # disk radius / image height; the code's default when on: 0.2
    occlusion_value: float = 0.0  # what occluded pixels become, on the [0, 1] scale
    noise: float = 0.0  # fraction of pixels replaced by U(0, 1); the code's default: 0.2


@dataclass(frozen=True)
class Pool:
    """Where the images come from: per class, how many there are and how to read them."""

    num_classes: int
    shape: tuple[int, int, int]
    count: Callable[[int], int]
    read: Callable[[int, torch.Tensor], torch.Tensor]  # (class, indices) -> [0, 1] images
    mean: float  # normalisation applied after the corruptions
    std: float


def occlude(x: torch.Tensor, fraction: float, value: float, g: torch.Generator) -> torch.Tensor:
    """A copy of `x` (N, C, H, W) with, per image, the pixels within a disk set to `value`.

    Radius r = int(fraction·H) pixels; the centre (column, row) is drawn uniformly from the
    integers in [r, W-r) x [r, H-r) (when 2r >= the side: [side-r, r), or r if empty); a pixel
    is occluded when (col - cx)^2 + (row - cy)^2 <= r^2, in every channel.
    """
    out = x.clone()
    n, _, h, w = x.shape
    r = int(fraction * h)
    rows = torch.arange(h).view(h, 1)
    cols = torch.arange(w).view(1, w)

    def centre(side: int) -> int:
        lo, hi = sorted((r, side - r))
        return lo + int(torch.randint(max(hi - lo, 1), (1,), generator=g))

    for i in range(n):
        cx, cy = centre(w), centre(h)
        inside = (cols - cx) ** 2 + (rows - cy) ** 2 <= r * r
        out[i][:, inside] = value
    return out


def add_noise(x: torch.Tensor, fraction: float, g: torch.Generator) -> torch.Tensor:
    """A copy of `x` (N, C, H, W) with, per image, int(fraction·C·H·W) entries at distinct
    uniform positions replaced by U(0, 1) values."""
    out = x.clone()
    size = x[0].numel()
    k = int(fraction * size)
    for i in range(len(x)):
        pos = torch.randperm(size, generator=g)[:k]
        out[i].view(-1)[pos] = torch.rand(k, generator=g)
    return out


def draw_episode(pool: Pool, params: InstanceParams, seed: int) -> tuple[int, torch.Tensor]:
    """The episode's class and its K·NSS distinct image indices, in presentation order."""
    n = params.n_support_sets * params.n_shots
    g = torch.Generator().manual_seed(stream_seed(seed, 0, "instance-episode"))
    cls = params.source_class
    if cls is None:
        cls = int(torch.randint(pool.num_classes, (1,), generator=g))
    elif not 0 <= cls < pool.num_classes:
        raise ClbenchError(
            f"{params.name}: scenario.source_class={cls} must be in 0..{pool.num_classes - 1}"
        )
    available = pool.count(cls)
    if n > available:
        raise ClbenchError(
            f"{params.name}: scenario.n_support_sets x scenario.n_shots = {n} images, but "
            f"class {cls} has only {available}"
        )
    return cls, torch.randperm(available, generator=g)[:n]


def corrupt(x: torch.Tensor, params: InstanceParams, seed: int) -> torch.Tensor:
    """The target copy of [0, 1] support images: occlusion, then noise (the code's order)."""
    g = torch.Generator().manual_seed(stream_seed(seed, 0, "instance-corruption"))
    if params.occlusion > 0:
        x = occlude(x, params.occlusion, params.occlusion_value, g)
    if params.noise > 0:
        x = add_noise(x, params.noise, g)
    return x


def _check(params: InstanceParams) -> None:
    if params.n_support_sets < 1 or params.n_shots < 1:
        raise ClbenchError(f"{params.name}: scenario.n_support_sets and n_shots must be >= 1")
    for key in ("occlusion", "noise"):
        if not 0.0 <= getattr(params, key) <= 1.0:
            raise ClbenchError(f"{params.name}: scenario.{key} must be in [0, 1]")


def build_instance(params: InstanceParams, pool: Pool) -> Scenario:
    _check(params)
    seed = 0 if params.episode_seed is None else int(params.episode_seed)
    cls, idx = draw_episode(pool, params, seed)
    clean = pool.read(cls, idx)
    target = corrupt(clean, params, seed)
    k = params.n_shots
    exps = []
    for i in range(params.n_support_sets):
        rows = slice(i * k, (i + 1) * k)
        y = torch.arange(i * k, (i + 1) * k)
        x, t = (clean[rows] - pool.mean) / pool.std, (target[rows] - pool.mean) / pool.std
        exps.append(((x, y), (t, y.clone())))
    n = k * params.n_support_sets
    info = {"source_class": cls, "image_indices": idx.tolist(), "n_shots": k}
    return Scenario(params.name, n, pool.shape, list(range(n)), domain_incremental(exps), info)


# -- image pools --------------------------------------------------------------------------


def _in_memory(x: torch.Tensor, y: torch.Tensor, mean: float, std: float) -> Pool:
    """A pool over [0, 1] images held in memory; a class's images in their stored order."""
    members = [torch.nonzero(y == c).flatten() for c in range(int(y.max()) + 1)]
    shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
    return Pool(
        len(members), shape, lambda c: len(members[c]), lambda c, i: x[members[c][i]], mean, std
    )


def digits_pool(data: Any) -> Pool:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.as_tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return _in_memory(x, torch.as_tensor(d.target), 0.5, 0.5)  # split-digits' normalisation


def mnist_5k_pool(data: Any) -> Pool:
    from scenarios.mnist5k import MNIST_MEAN, MNIST_STD, _mnist_5k_arrays

    x, y = _mnist_5k_arrays()
    images = torch.as_tensor(x, dtype=torch.float32).view(-1, 1, 28, 28) / 255.0
    return _in_memory(images, torch.as_tensor(y), MNIST_MEAN, MNIST_STD)


OMNIGLOT_SIZE = 28  # the paper's image size


def omniglot_pool(data: Any) -> Pool:
    from scenarios import omniglot

    chars = omniglot.characters(data.root)

    def read(c: int, idx: torch.Tensor) -> torch.Tensor:
        files = omniglot.drawings(chars[c])
        return omniglot.read_drawings([files[int(i)] for i in idx], OMNIGLOT_SIZE)

    shape = (1, OMNIGLOT_SIZE, OMNIGLOT_SIZE)
    # no standardisation (the paper's ToTensor only): mean 0, std 1
    return Pool(len(chars), shape, lambda c: len(omniglot.drawings(chars[c])), read, 0.0, 1.0)


def _spec(pool: Callable[[Any], Pool], defaults: dict[str, Any]) -> ScenarioSpec:
    # episode_seed defaults to the run's seed: each seed of a record is a new episode
    scenario = {"episode_seed": "${seed}"}
    return ScenarioSpec(
        InstanceParams,
        lambda params, data: build_instance(params, pool(data)),
        {**defaults, "scenario": scenario},
    )


# Training on a support set: full-batch steps (K <= batch size), as the paper's inner loop;
# the learning rates of split-digits (0.05) and split-mnist-5k (0.01).
_TRAIN = {"epochs": 30, "lr": 0.01, "momentum": 0.9, "batch_size": 32}
INSTANCE_DIGITS = _spec(
    digits_pool, {"train": {**_TRAIN, "lr": 0.05}, "backbone": {"hidden_dim": 100}}
)
INSTANCE_MNIST_5K = _spec(mnist_5k_pool, {"train": _TRAIN})
INSTANCE_OMNIGLOT = _spec(omniglot_pool, {"train": _TRAIN, "backbone": {"name": "convnet"}})
