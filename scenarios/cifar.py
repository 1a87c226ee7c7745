"""Split CIFAR-10 and split CIFAR-100 (class-incremental) from the python pickles.

Files: `<data.root>/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}` and
`<data.root>/cifar-100-python/{train,test,meta}` (what torchvision downloads). Nothing
downloads unless `data.download=true`. Augmentation: random crop 32 with 4-pixel padding and
horizontal flip (`info["train_transform"]`, see clbench/augment.py).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clbench.datasets import locate
from clbench.errors import ClbenchError
from scenarios.base import ScenarioSpec, class_incremental
from scenarios.imagedata import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    ClassIncrementalParams,
    ImageScenario,
    class_order,
    first_then_even,
    image_info,
    online_info,
)

_FILES = {
    ("cifar10", True): [f"data_batch_{i}" for i in range(1, 6)],
    ("cifar10", False): ["test_batch"],
    ("cifar100", True): ["train"],
    ("cifar100", False): ["test"],
}
_LABEL_KEY = {"cifar10": "labels", "cifar100": "fine_labels"}


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="latin1")
        if not isinstance(d, dict):
            raise TypeError("not a dict")
        return d
    except FileNotFoundError:
        raise ClbenchError(f"{path} does not exist") from None
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's data
        raise ClbenchError(f"cannot read {path}: not a CIFAR python pickle ({e})") from None


def cifar_folder(name: str, root: str | Path, download: bool = False) -> Path:
    """The CIFAR folder under `root`; fetched with torchvision when `download` and missing."""
    from clbench.datasets import find

    if download and find(name, root)[0] is None:
        from torchvision import datasets

        cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
        cls(str(Path(str(root)).expanduser()), download=True)
    return locate(name, root)


def load_cifar(
    name: str, root: str | Path, train: bool, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 or CIFAR-100 ('cifar10'/'cifar100'): uint8 (N, 3, 32, 32) images, int64 labels,
    in the files' order (the order FSCIL index lists refer to)."""
    folder = cifar_folder(name, root, download)
    xs, ys = [], []
    for fname in _FILES[(name, train)]:
        path = folder / fname
        d = _unpickle(path)
        try:
            data = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            labels = np.asarray(d[_LABEL_KEY[name]], dtype=np.int64)
        except (KeyError, ValueError) as e:
            raise ClbenchError(
                f"cannot read {path}: unexpected CIFAR pickle content ({e})"
            ) from None
        if len(data) != len(labels):
            raise ClbenchError(f"cannot read {path}: {len(data)} images but {len(labels)} labels")
        # the unpickled array itself, not a copy (CIFAR-100's 150 MB are held once)
        xs.append(torch.from_numpy(data if data.flags.writeable else data.copy()))
        ys.append(torch.from_numpy(labels))
        del d, data
    return (xs[0], ys[0]) if len(xs) == 1 else (torch.cat(xs), torch.cat(ys))


@dataclass
class SplitCifar10Params(ClassIncrementalParams):
    n_experiences: int = 5


@dataclass
class SplitCifar100Params(ClassIncrementalParams):
    n_experiences: int = 10
    first_classes: int = 0  # e.g. 50: a 50-class first experience, the rest split evenly


_STATS = {"cifar10": (CIFAR10_MEAN, CIFAR10_STD), "cifar100": (CIFAR100_MEAN, CIFAR100_STD)}


def _build(name: str, num_classes: int, first: int, params: Any, data: Any) -> ImageScenario:
    root, download = data.root, bool(data.download)
    train = load_cifar(name, root, True, download)
    test = load_cifar(name, root, False, download)
    order = class_order(params, num_classes)
    per_exp = first_then_even(num_classes, params.n_experiences, first, params.name)
    bench = class_incremental(train, test, order, per_exp)
    mean, std = _STATS[name]
    info = image_info(mean, std, "crop-pad4-flip", **online_info(params))
    return ImageScenario(params.name, num_classes, (3, 32, 32), order, bench, info)


def build_split_cifar10(params: SplitCifar10Params, data: Any) -> ImageScenario:
    return _build("cifar10", 10, 0, params, data)


def build_split_cifar100(params: SplitCifar100Params, data: Any) -> ImageScenario:
    return _build("cifar100", 100, params.first_classes, params, data)


# Recommended defaults: our choice for a quick but meaningful run (SGD), on the CIFAR-sized
# reduced ResNet-18 of the online/class-incremental literature (GEM, OCM, OnPro; width
# backbone.nf): the ImageNet stem of `resnet18` would leave 1x1 maps of a 32x32 image.
_DEFAULTS = {
    "train": {"epochs": 5, "lr": 0.05, "momentum": 0.9, "batch_size": 128, "weight_decay": 5e-4},
    "backbone": {"name": "reduced-resnet18"},
}
SPLIT_CIFAR10 = ScenarioSpec(SplitCifar10Params, build_split_cifar10, _DEFAULTS)
SPLIT_CIFAR100 = ScenarioSpec(SplitCifar100Params, build_split_cifar100, _DEFAULTS)
