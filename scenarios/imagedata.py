"""Shared pieces of the image scenario families (CIFAR, Tiny ImageNet, CUB, miniImageNet, -C).

Storage: the Avalanche benchmark of an image scenario holds **uint8** images (4x smaller than
float32); `ImageScenario.experiences()` hands the runner float32 images normalised with the
dataset's mean and std (`info["normalization"]`), which is what strategies consume today.

Augmentation: a scenario names its training-time batch augmentation in
`info["train_transform"]` (a key of `clbench.augment.BATCH_TRANSFORMS`); a strategy's
`augment` (strategies/base.py) applies it on the device to every normalised float32 sample it
trains on, replayed ones included. `info["test_transform"]` is always "none" because any fixed test-time preprocessing
(resize, centre crop) is done once at load time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from clbench.augment import BATCH_TRANSFORMS
from clbench.config import ScenarioParams
from clbench.errors import ClbenchError, DataNotFoundError
from clbench.stream import Experience, Scenario
from scenarios.base import resolve_class_order

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (N, C, H, W) images -> float32, scaled to [0, 1] then standardised per channel."""
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    out = torch.empty(x.shape, dtype=torch.float32)
    for i in range(0, len(x), 4096):  # in chunks: no second full-size temporary
        out[i : i + 4096] = (x[i : i + 4096].float() / 255.0 - m) / s
    return out


def _normalised(ds: TensorDataset, mean: Sequence[float], std: Sequence[float]) -> TensorDataset:
    x, *rest = ds.tensors
    return TensorDataset(normalize(x, mean, std) if x.dtype == torch.uint8 else x, *rest)


@dataclass
class ImageScenario(Scenario):
    """A scenario whose benchmark holds uint8 images; experiences come out normalised float32."""

    def experiences(self) -> list[Experience]:
        norm = self.info["normalization"]
        exps = super().experiences()
        for e in exps:
            e.train = _normalised(e.train, norm["mean"], norm["std"])
            e.test = _normalised(e.test, norm["mean"], norm["std"])
        return exps


def image_info(
    mean: Sequence[float], std: Sequence[float], train_transform: str, **extra: object
) -> dict:
    """The `Scenario.info` entries every image scenario carries."""
    if train_transform not in BATCH_TRANSFORMS:
        raise ValueError(f"unknown batch transform {train_transform}")
    return {
        "normalization": {"mean": list(mean), "std": list(std)},
        "train_transform": train_transform,
        "test_transform": "none",
        **extra,
    }


# -- reading image files ------------------------------------------------------------------


def read_image(path: Path, size: int, resize: int | None = None) -> torch.Tensor:
    """An RGB image file as a uint8 (3, size, size) tensor.

    `resize=None`: scaled to size x size. Otherwise the shorter side is scaled to `resize`
    and the centre size x size is cut (torchvision's Resize + CenterCrop).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if resize is None:
                im = im.resize((size, size), Image.BILINEAR)
            else:
                w, h = im.size
                scale = resize / min(w, h)
                im = im.resize(
                    (max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR
                )
                w, h = im.size
                left, top = (w - size) // 2, (h - size) // 2
                im = im.crop((left, top, left + size, top + size))
            arr = np.asarray(im, dtype=np.uint8)
    except FileNotFoundError:
        raise DataNotFoundError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ClbenchError(f"cannot read image {path}: {e}") from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def read_images(paths: Sequence[Path], size: int, resize: int | None = None) -> torch.Tensor:
    """Several image files as one uint8 (N, 3, size, size) tensor."""
    out = torch.empty((len(paths), 3, size, size), dtype=torch.uint8)
    for i, p in enumerate(paths):
        out[i] = read_image(p, size, resize)
    return out


# -- class-incremental parameters shared by the split-* families ---------------------------


@dataclass
class ClassIncrementalParams(ScenarioParams):
    n_experiences: int = 5
    class_order: list[int] | None = None  # an explicit permutation of the class ids
    class_order_seed: int | None = None  # else: a seeded permutation (None: 0, 1, 2, ...)
    # OnPro-style online protocol: each training sample seen once, in batches of batch_size.
    # The runner must honour info["online"] (train.epochs=1, batch size below); see module doc.
    online: bool = False
    batch_size: int = 10


def class_order(params: ClassIncrementalParams, num_classes: int) -> list[int]:
    """`scenario.class_order`, else a permutation seeded by `class_order_seed`, else 0..n-1."""
    return resolve_class_order(
        params.class_order, num_classes, params.name, params.class_order_seed
    )


def online_info(params: ClassIncrementalParams) -> dict:
    if not params.online:
        return {}
    if params.batch_size < 1:
        raise ClbenchError(f"{params.name}: scenario.batch_size must be at least 1")
    return {"online": {"batch_size": int(params.batch_size), "epochs": 1}}


def first_then_even(num_classes: int, n_experiences: int, first: int, what: str) -> list[int]:
    """Classes per experience: `first` classes, then the rest split evenly over the others
    (`first=0`: an even split)."""
    if first <= 0:
        if n_experiences < 1 or num_classes % n_experiences:
            raise ClbenchError(
                f"{what}: scenario.n_experiences={n_experiences} must divide {num_classes} classes"
            )
        return [num_classes // n_experiences] * n_experiences
    rest, steps = num_classes - first, n_experiences - 1
    if first >= num_classes or steps < 1 or rest % steps:
        raise ClbenchError(
            f"{what}: after scenario.first_classes={first}, the other {max(rest, 0)} classes must "
            f"split evenly over scenario.n_experiences-1={steps} experiences"
        )
    return [first] + [rest // steps] * steps
