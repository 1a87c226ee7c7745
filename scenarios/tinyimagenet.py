"""Split Tiny ImageNet (class-incremental): 200 classes of 64x64 images, 10 x 20 by default.

Files: `<data.root>/tiny-imagenet-200/` (or `<data.root>/tinyimagenet/tiny-imagenet-200/`,
where Avalanche downloads it): `wnids.txt`, `train/<wnid>/images/*.JPEG`,
`val/val_annotations.txt` + `val/images/*.JPEG`; the labelled validation set is the test set.
Class ids follow the order of wnids.txt (as Avalanche's TinyImagenet). Augmentation: random
crop 64 with 4-pixel padding and horizontal flip (as Mammoth's seq-tinyimg).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from clbench.datasets import find, locate
from clbench.errors import ClbenchError
from scenarios.base import ScenarioSpec, class_incremental
from scenarios.imagedata import (
    ClassIncrementalParams,
    ImageScenario,
    class_order,
    first_then_even,
    image_info,
    online_info,
    read_images,
)

TINY_MEAN, TINY_STD = (0.4802, 0.4480, 0.3975), (0.2770, 0.2691, 0.2821)


def tiny_folder(root: Any, download: bool) -> Path:
    if download and find("tiny-imagenet", root)[0] is None:
        from avalanche.benchmarks.datasets import TinyImagenet

        TinyImagenet(root=Path(str(root)).expanduser() / "tinyimagenet", download=True)
    return locate("tiny-imagenet", root)


def load_tinyimagenet(root: Any, download: bool = False) -> tuple[tuple, tuple]:
    """((train uint8 images, labels), (val images, labels)) at 64x64."""
    folder = tiny_folder(root, download)
    wnids = [w.strip() for w in (folder / "wnids.txt").read_text().splitlines() if w.strip()]
    label = {w: i for i, w in enumerate(wnids)}
    train_files, train_labels = [], []
    for w in wnids:
        files = sorted((folder / "train" / w / "images").glob("*.JPEG"))
        if not files:
            raise ClbenchError(f"no training images in {folder / 'train' / w / 'images'}")
        train_files += files
        train_labels += [label[w]] * len(files)
    ann = folder / "val" / "val_annotations.txt"
    val_files, val_labels = [], []
    for n, line in enumerate(ann.read_text().splitlines(), start=1):
        parts = line.split("\t")
        if not line.strip():
            continue
        if len(parts) < 2 or parts[1] not in label:
            raise ClbenchError(
                f"{ann}, line {n}: expected '<file>\\t<wnid>...' with a wnid of wnids.txt"
            )
        val_files.append(folder / "val" / "images" / parts[0])
        val_labels.append(label[parts[1]])
    return (
        (read_images(train_files, 64), torch.tensor(train_labels)),
        (read_images(val_files, 64), torch.tensor(val_labels)),
    )


@dataclass
class SplitTinyImagenetParams(ClassIncrementalParams):
    n_experiences: int = 10
    first_classes: int = 0  # e.g. 100: a 100-class first experience, the rest split evenly


def build(params: SplitTinyImagenetParams, data: Any) -> ImageScenario:
    train, test = load_tinyimagenet(data.root, bool(data.download))
    n = 200
    order = class_order(params, n)
    per_exp = first_then_even(n, params.n_experiences, params.first_classes, params.name)
    bench = class_incremental(train, test, order, per_exp)
    info = image_info(TINY_MEAN, TINY_STD, "crop-pad4-flip", **online_info(params))
    return ImageScenario(params.name, n, (3, 64, 64), order, bench, info)


SPLIT_TINYIMAGENET = ScenarioSpec(
    SplitTinyImagenetParams,
    build,
    {
        "train": {"epochs": 5, "lr": 0.03, "momentum": 0.9, "batch_size": 128},
        "backbone": {"name": "resnet18"},
    },
)
