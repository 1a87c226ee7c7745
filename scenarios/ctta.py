"""Continual test-time adaptation (CTTA) streams: one experience per corruption domain.

`cifar10c` / `cifar100c`: the 15 corruptions of Hendrycks & Dietterich (ICLR 2019) in the
standard CTTA order (CoTTA, Wang et al., CVPR 2022), severity 5 by default, the 10,000 test
images of each, read from `CIFAR-10-C/<corruption>.npy` + `labels.npy` (severities 1..5 are
stacked blocks of 10,000). `mnist-5k-c`: the 1,000 split-mnist-5k test digits under
corruptions computed here (pure functions below; small and offline, for tests and demos).

What an experience holds (`CttaScenario.experiences()`):
- `train`: a TensorDataset of the corrupted **images only**: what a CTTA strategy may adapt on,
  with no labels;
- `test`: the same images (the same tensor) with their labels, used only to score.
Source (clean) training data, for pre-training the source model, is `info["source_train"]()`:
a callable returning a labelled TensorDataset (loaded on demand: CTTA usually starts from a
pretrained checkpoint and never needs it; CIFAR's uint8 like the stream, normalised on the
device by `Strategy.inputs`). `info["domains"]` names the experiences in order.
`info["keep_order"]`: a domain's images are adapted on in their stored order, unshuffled, as
in CoTTA's evaluation (its loaders never shuffle; CIFAR-10-C's stored order is CIFAR-10's test
order, classes mixed). mnist-5k-c's test digits are stored sorted by class, so its images are
put in one fixed random order (`stream_permutation`, the same for every domain).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from clbench.config import ScenarioParams
from clbench.datasets import CIFAR_C_CORRUPTIONS, locate
from clbench.errors import ClbenchError
from clbench.stream import Experience, _to_tensors
from scenarios.base import ScenarioSpec, domain_incremental
from scenarios.imagedata import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    ImageScenario,
    image_info,
)


@dataclass
class CttaScenario(ImageScenario):
    """Experiences whose `train` carries the test images without labels (see module doc)."""

    def experiences(self) -> list[Experience]:
        out = []
        for i, te in enumerate(self.benchmark.test_stream):
            x, y = _to_tensors(te.dataset).tensors  # uint8: normalised per batch on the device
            classes = torch.unique(y).tolist()
            out.append(Experience(i, classes, TensorDataset(x), TensorDataset(x, y)))
        return out


def _check_domains(names: list[str], valid: tuple[str, ...], what: str) -> list[str]:
    from clbench.errors import unknown

    for n in names:
        if n not in valid:
            raise unknown(f"{what} corruption", n, valid)
    if not names:
        raise ClbenchError(f"{what}: scenario.corruptions is empty")
    return names


def _check_severity(severity: int, what: str) -> None:
    if not 1 <= severity <= 5:
        raise ClbenchError(f"{what}: scenario.severity must be 1..5, not {severity}")


def _stream(
    domains: list[tuple[torch.Tensor, torch.Tensor]],
) -> Any:
    # Avalanche needs labelled datasets on both streams; the labels never reach a strategy:
    # CttaScenario.experiences() reads the test stream only and strips them from `train`.
    return domain_incremental([((x, y), (x, y)) for x, y in domains])


# -- CIFAR-10-C / CIFAR-100-C ---------------------------------------------------------------


@dataclass
class CifarCParams(ScenarioParams):
    severity: int = 5
    corruptions: list[str] = field(default_factory=lambda: list(CIFAR_C_CORRUPTIONS))
    n_images: int = 10000  # per domain: the first n of the severity block


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r")
    except FileNotFoundError:
        raise ClbenchError(f"{path} does not exist") from None
    except (OSError, ValueError) as e:
        raise ClbenchError(f"cannot read {path}: not a .npy array ({e})") from None


def load_cifar_c(
    folder: Path, corruption: str, severity: int, n_images: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (n, 3, 32, 32) images and int64 labels of one corruption at one severity."""
    path, lpath = folder / f"{corruption}.npy", folder / "labels.npy"
    images, labels = _load_npy(path), _load_npy(lpath)
    if images.ndim != 4 or images.shape[1:] != (32, 32, 3) or len(images) % 5:
        raise ClbenchError(
            f"cannot read {path}: expected (5*N, 32, 32, 3) uint8 images, got {images.shape}"
        )
    block = len(images) // 5
    if labels.shape != (len(images),):
        raise ClbenchError(
            f"cannot read {lpath}: expected {len(images)} labels, got {labels.shape}"
        )
    if not 1 <= n_images <= block:
        raise ClbenchError(
            f"scenario.n_images must be 1..{block} ({path} has {block} per severity)"
        )
    s = slice((severity - 1) * block, (severity - 1) * block + n_images)
    x = torch.from_numpy(np.ascontiguousarray(images[s], dtype=np.uint8)).permute(0, 3, 1, 2)
    return x.contiguous(), torch.from_numpy(np.asarray(labels[s], dtype=np.int64))


def _build_cifar_c(
    name: str, source: str, num_classes: int, stats: tuple, params: CifarCParams, data: Any
) -> CttaScenario:
    _check_severity(params.severity, params.name)
    corruptions = _check_domains(list(params.corruptions), CIFAR_C_CORRUPTIONS, params.name)
    folder = locate(name, data.root)
    domains = [load_cifar_c(folder, c, params.severity, params.n_images) for c in corruptions]

    def source_train() -> TensorDataset:
        from scenarios.cifar import load_cifar

        return TensorDataset(*load_cifar(source, data.root, True, bool(data.download)))

    info = image_info(
        *stats,
        "none",  # test-time adaptation: no training augmentation on the stream
        domains=[f"{c}-{params.severity}" for c in corruptions],
        source_train=source_train,
        keep_order=True,
    )
    order = list(range(num_classes))
    return CttaScenario(params.name, num_classes, (3, 32, 32), order, _stream(domains), info)


def build_cifar10c(params: CifarCParams, data: Any) -> CttaScenario:
    return _build_cifar_c("cifar10-c", "cifar10", 10, (CIFAR10_MEAN, CIFAR10_STD), params, data)


def build_cifar100c(params: CifarCParams, data: Any) -> CttaScenario:
    return _build_cifar_c(
        "cifar100-c", "cifar100", 100, (CIFAR100_MEAN, CIFAR100_STD), params, data
    )


# -- corruptions computed here (mnist-5k-c) -------------------------------------------------
# Each takes float images in [0, 1], shape (N, C, H, W), a severity 1..5 and a generator, and
# returns images in [0, 1]. Magnitudes follow Hendrycks & Dietterich's CIFAR-10-C settings
# where the corruption exists there; the blur sigmas are our choice for 28x28 digits.

Corruption = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]


def gaussian_noise(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    c = (0.04, 0.06, 0.08, 0.09, 0.10)[severity - 1]
    return (x + torch.randn(x.shape, generator=g) * c).clamp(0, 1)


def shot_noise(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    c = (500.0, 250.0, 100.0, 75.0, 50.0)[severity - 1]
    return (torch.poisson(x * c, generator=g) / c).clamp(0, 1)


def impulse_noise(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    """Salt and pepper: a fraction `amount` of pixels set to 0 or 1 with equal odds."""
    amount = (0.01, 0.02, 0.03, 0.05, 0.07)[severity - 1]
    u = torch.rand(x.shape, generator=g)
    salt = torch.rand(x.shape, generator=g) < 0.5
    hit = u < amount
    return torch.where(hit, salt.to(x.dtype), x)


def gaussian_blur(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    sigma = (0.5, 0.75, 1.0, 1.25, 1.5)[severity - 1]
    r = int(np.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    out = F.conv2d(
        F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c
    )
    out = F.conv2d(
        F.pad(out, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c
    )
    return out.clamp(0, 1)


def contrast(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    """Pixels pulled towards each image's mean by factor c."""
    c = (0.75, 0.5, 0.4, 0.3, 0.15)[severity - 1]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * c + mean).clamp(0, 1)


def brightness(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    """A constant added to every pixel (grey images: the HSV value channel is the pixel)."""
    c = (0.05, 0.1, 0.15, 0.2, 0.3)[severity - 1]
    return (x + c).clamp(0, 1)


def pixelate(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    """Box-downsampled to a fraction c of the side, then blown back up (nearest)."""
    c = (0.95, 0.9, 0.85, 0.75, 0.65)[severity - 1]
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(max(1, int(h * c)), max(1, int(w * c))), mode="area")
    return F.interpolate(small, size=(h, w), mode="nearest")


MNIST_C_CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "gaussian_blur": gaussian_blur,
    "brightness": brightness,
    "contrast": contrast,
    "pixelate": pixelate,
}


def corrupt(x: torch.Tensor, name: str, severity: int, seed: int) -> torch.Tensor:
    """Corruption `name` at `severity`, with its randomness seeded by (seed, name)."""
    g = torch.Generator().manual_seed(seed * 1000 + list(MNIST_C_CORRUPTIONS).index(name))
    return MNIST_C_CORRUPTIONS[name](x, severity, g)


def stream_permutation(n: int, seed: int) -> torch.Tensor:
    """A fixed random order of n stream positions (mnist-5k-c: classes mixed, not sorted)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + 999))


@dataclass
class Mnist5kCParams(ScenarioParams):
    severity: int = 5
    corruptions: list[str] = field(default_factory=lambda: list(MNIST_C_CORRUPTIONS))
    corruption_seed: int = 0  # fixed noise, independent of the run's seed


def build_mnist5k_c(params: Mnist5kCParams, data: Any) -> CttaScenario:
    from scenarios.mnist5k import MNIST_MEAN, MNIST_STD, load_mnist_5k

    _check_severity(params.severity, params.name)
    names = _check_domains(list(params.corruptions), tuple(MNIST_C_CORRUPTIONS), params.name)
    trx, try_, tex, tey = load_mnist_5k()
    order = stream_permutation(len(tey), params.corruption_seed)
    clean, tey = (tex[order] * MNIST_STD + MNIST_MEAN).clamp(0, 1), tey[order]
    domains = []
    for n in names:
        # stored as uint8 like the -C datasets on disk
        x = (
            (corrupt(clean, n, params.severity, params.corruption_seed) * 255)
            .round()
            .to(torch.uint8)
        )
        domains.append((x, tey))
    info = image_info(
        (MNIST_MEAN,),
        (MNIST_STD,),
        "none",
        domains=[f"{n}-{params.severity}" for n in names],
        source_train=lambda: TensorDataset(trx, try_),
        keep_order=True,
    )
    return CttaScenario(params.name, 10, (1, 28, 28), list(range(10)), _stream(domains), info)


# Test-time adaptation has no training epochs of its own; batch size 200 is CoTTA's choice
# for CIFAR-10-C, 64 ours for the small digits stream.
CIFAR10C = ScenarioSpec(CifarCParams, build_cifar10c, {"train": {"batch_size": 200}})
CIFAR100C = ScenarioSpec(CifarCParams, build_cifar100c, {"train": {"batch_size": 200}})
MNIST_5K_C = ScenarioSpec(
    Mnist5kCParams,
    build_mnist5k_c,
    {
        "train": {"epochs": 5, "lr": 0.01, "momentum": 0.9, "batch_size": 64},  # the source phase
        # time-to-result target (our choice): between tent (0.93) and the source model (0.51)
        "scenario": {"target_accuracy": 0.9},
    },
)
