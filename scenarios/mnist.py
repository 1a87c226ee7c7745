"""Full MNIST (60,000/10,000) from torchvision's on-disk format under `data.root`.

Nothing downloads unless the user sets `data.download=true`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from clbench.errors import DataNotFoundError
from clbench.stream import Scenario
from scenarios.base import (
    ScenarioSpec,
    SplitParams,
    class_incremental,
    resolve_class_order,
    split_classes,
)
from scenarios.imagedata import online_info
from scenarios.mnist5k import MNIST_MEAN, MNIST_STD


def _load(root: Path, train: bool, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST

    try:
        ds = MNIST(str(root), train=train, download=download)
    except RuntimeError:
        raise DataNotFoundError(
            f"MNIST not found under {root / 'MNIST' / 'raw'}; put torchvision's MNIST files there, "
            "set data.root (or CLBENCH_DATA) to their parent, or set data.download=true"
        ) from None
    x = ds.data.to(torch.float32).unsqueeze(1) / 255.0
    return (x - MNIST_MEAN) / MNIST_STD, ds.targets.to(torch.int64)


def build(params: SplitParams, data: object) -> Scenario:
    root = Path(str(data.root)).expanduser()  # type: ignore[attr-defined]
    download = bool(data.download)  # type: ignore[attr-defined]
    train, test = _load(root, True, download), _load(root, False, download)
    order = resolve_class_order(params.class_order, 10, params.name, params.class_order_seed)
    bench = class_incremental(
        train, test, order, split_classes(10, params.n_experiences, params.name)
    )
    return Scenario(params.name, 10, (1, 28, 28), order, bench, online_info(params))


SPLIT_MNIST = ScenarioSpec(
    SplitParams, build, {"train": {"epochs": 1, "lr": 0.01, "momentum": 0.9, "batch_size": 64}}
)
