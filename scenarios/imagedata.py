"""Shared pieces of the image scenario families (CIFAR, Tiny ImageNet, CUB, miniImageNet, -C).

The data path (docs/data-path.md): an image scenario's experiences hold **uint8** images at
their stored or load resolution (4x smaller than float32; a 224-pixel ViT on CIFAR still keeps
32x32 images on the host). Each batch becomes model input on the device in one place,
`Strategy.inputs` (clbench/inputs.py): to the backbone's dtype, resized to the backbone's
input size when its `InputContract` asks for another, normalised with the contract's or the
dataset's mean and std (`info["normalization"]`). Fixed load-time preprocessing (resize,
centre crop of files) happens once, when the images are read (`read_image`).

Augmentation: a scenario names its training-time batch augmentation in
`info["train_transform"]` (a key of `clbench.augment.BATCH_TRANSFORMS`); a strategy's
`augment` (strategies/base.py) applies it on the device, after `inputs`, to every normalised
sample it trains on, replayed ones included. `info["test_transform"]` is always "none".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from clbench.augment import BATCH_TRANSFORMS
from clbench.config import ScenarioParams
from clbench.errors import ClbenchError, DataNotFoundError
from clbench.inputs import InputPipeline
from clbench.stream import Scenario
from scenarios.base import resolve_class_order

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (N, C, H, W) images -> float32, scaled to [0, 1] then standardised per channel
    (on the host: what `Strategy.inputs` does per batch on the device, for tools and tests)."""
    return InputPipeline(None, "bilinear", tuple(mean), tuple(std))(x)


@dataclass
class ImageScenario(Scenario):
    """A scenario whose benchmark holds uint8 images; experiences keep them uint8."""


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


class ImageFiles(Dataset):
    """Image files decoded one item at a time (`read_image`), for streams larger than memory:
    DataLoader workers read them (`workers`), in the order the sampler gives, so the batches
    are those of the in-memory TensorDataset of the same files (tests/test_image_files.py)."""

    def __init__(
        self,
        paths: Sequence[Path],
        labels: torch.Tensor,
        size: int,
        resize: int | None = None,
        workers: int = 0,
    ) -> None:
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} image files for {len(labels)} labels")
        self.paths, self.labels = list(paths), labels.long()
        self.size, self.resize, self.workers = size, resize, workers

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return read_image(self.paths[i], self.size, self.resize), self.labels[i]


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
