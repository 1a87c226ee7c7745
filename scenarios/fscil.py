"""Few-shot class-incremental streams (FSCIL): `cifar100`, `cub200`, `mini_imagenet`.

Protocol (CEC, Zhang et al., CVPR 2021, reused by TEEN and others): a base session with many
classes, then sessions of N-way K-shot novel classes. With `scenario.protocol=cec` (default)
the training data of every session is exactly the one named in CEC's index lists, which ship
with clbench (scenarios/fscil_lists/); `scenario.index_lists=DIR` uses other lists of the same
shape (base classes, ways, shots: checked), `scenario.protocol=custom` lists of any shape.
`scenario.protocol=seeded` draws the shots with `scenario.shot_seed` instead. The record's
`sessions` says which: {"source": "CEC" (the lists hash to CEC's) | "index_lists" | "seeded",
"sha256": hash of the lists}; `info["standard_protocol"]` is True only for CEC's lists.

Test data: test experience j holds all test images of the classes that are new in session j,
so the accuracy on seen data after session t (test experiences 0..t pooled) is the FSCIL
number on every class seen so far. Class ids follow CEC: CIFAR-100 fine labels; CUB class
id - 1; miniImageNet the order in which wnids first appear in train.csv.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from clbench.config import ScenarioParams
from clbench.errors import ClbenchError
from scenarios.base import ScenarioSpec, domain_incremental
from scenarios.fscil_pools import cifar100_pools, cub_pools, mini_pools
from scenarios.fscil_sessions import (
    Pool,
    Shape,
    bundled_dir,
    check_shape,
    lists_sha256,
    read_lists,
    resolve_sessions,
    seeded_sessions,
    user_dir,
)
from scenarios.imagedata import (
    CIFAR100_MEAN,
    CIFAR100_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageScenario,
    image_info,
)

PROTOCOLS = ("cec", "custom", "seeded")


@dataclass
class FscilParams(ScenarioParams):
    index_lists: str | None = None  # folder of session lists (None: CEC's, shipped)
    protocol: str = "cec"  # cec | custom (lists of any shape) | seeded (shots from shot_seed)
    shot_seed: int = 0
    image_size: int | None = None  # side images are loaded at (None: the protocol's)


@dataclass(frozen=True)
class FscilDataset:
    list_folder: str  # subfolder of the shipped lists and of scenario.index_lists
    num_classes: int
    shape: Shape
    side: int  # the protocol's image side
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_transform: str
    pools: Callable[[Any, Any, int | None], tuple[Pool, Pool]]  # (root, download, size)
    cec_sha256: str  # lists_sha256 of CEC's lists (tests/test_fscil_bundle.py checks it)


FSCIL_DATASETS = {
    "cifar100": FscilDataset(
        "cifar100",
        100,
        Shape(60, 5, 5, 8),
        32,
        CIFAR100_MEAN,
        CIFAR100_STD,
        "crop-pad4-flip",
        cifar100_pools,
        "6748a8f1fff1e11ee66dfd98792388e2f2f5d85a46086efc3d9ddd8b0e9873fe",
    ),
    "cub200": FscilDataset(
        "cub200",
        200,
        Shape(100, 10, 5, 10),
        224,
        IMAGENET_MEAN,
        IMAGENET_STD,
        "random-resized-crop-flip",
        cub_pools,
        "c8f7b7d2ed68977a26569099a8c63853941388248a86dca3ace376e6d7f89c43",
    ),
    "mini_imagenet": FscilDataset(
        "mini_imagenet",
        100,
        Shape(60, 5, 5, 8),
        84,
        IMAGENET_MEAN,
        IMAGENET_STD,
        "random-resized-crop-flip",
        mini_pools,
        "dfba178f8ba801c94c2331188bba1ca5d05a3ea2efcd10a983ef431573496430",
    ),
}


def _lists(params: FscilParams, ds: FscilDataset) -> list | None:
    """The session lists to use: scenario.index_lists, else CEC's (None: seeded)."""
    if params.protocol == "seeded":
        return None
    folder = (
        user_dir(params.index_lists, ds.list_folder, params.name)
        if params.index_lists
        else bundled_dir(ds.list_folder)
    )
    return read_lists(folder, ds.shape.sessions + 1)


def _sessions(
    params: FscilParams, ds: FscilDataset, lists: list | None, train: Pool, test: Pool
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """(item indices per session, the record's `sessions` entry)."""
    if lists is None:
        sessions = seeded_sessions(train, ds.shape, params.shot_seed)
        return sessions, {"source": "seeded", "shot_seed": params.shot_seed}
    sessions = resolve_sessions(lists, train, test=test)
    if params.protocol == "cec":
        check_shape(lists, sessions, train.labels, ds.shape, params.name)
    sha = lists_sha256(lists)
    source = "CEC" if sha == ds.cec_sha256 else "index_lists"
    return sessions, {"source": source, "sha256": sha, "index_lists": params.index_lists}


def build(params: FscilParams, data: Any) -> ImageScenario:
    ds = FSCIL_DATASETS[params.name]
    if params.protocol not in PROTOCOLS:
        raise ClbenchError(
            f"{params.name}: scenario.protocol must be one of {', '.join(PROTOCOLS)}, "
            f"not '{params.protocol}'"
        )
    if params.image_size is not None and params.image_size < 8:
        raise ClbenchError(f"{params.name}: scenario.image_size must be >= 8 or null")
    if params.protocol == "custom" and not params.index_lists:
        raise ClbenchError(f"{params.name}: scenario.protocol=custom needs scenario.index_lists")
    lists = _lists(params, ds)  # before the images: a bad list fails fast
    train, test = ds.pools(data.root, data.download, params.image_size)
    sessions, source = _sessions(params, ds, lists, train, test)

    exps, order = [], []
    for items in sessions:
        classes = sorted(set(train.labels[items].tolist()))
        order += classes
        test_items = np.flatnonzero(np.isin(test.labels, classes))
        exps.append(
            (
                (train.load(items), torch.as_tensor(train.labels[items])),
                (test.load(test_items), torch.as_tensor(test.labels[test_items])),
            )
        )
    info = image_info(
        ds.mean,
        ds.std,
        ds.train_transform,
        protocol=params.protocol,
        standard_protocol=source["source"] == "CEC",
        sessions=source,
        base_classes=len(set(train.labels[sessions[0]].tolist())),
        session_sizes=[len(s) for s in sessions],
    )
    # classes never trained on (none under the standard lists) go last in the order
    order += [c for c in range(ds.num_classes) if c not in set(order)]
    side = params.image_size or ds.side
    return ImageScenario(
        params.name, ds.num_classes, (3, side, side), order, domain_incremental(exps), info
    )


# CEC-style defaults are per method; these are our choice for a quick, sane run.
CIFAR100_FSCIL = ScenarioSpec(
    FscilParams,
    build,
    {
        "train": {"epochs": 5, "lr": 0.1, "momentum": 0.9, "batch_size": 128},
        "backbone": {"name": "resnet20"},  # CEC's and TEEN's CIFAR-100 backbone
    },
)
CUB200_FSCIL = ScenarioSpec(
    FscilParams,
    build,
    {
        "train": {"epochs": 5, "lr": 0.01, "momentum": 0.9, "batch_size": 64},
        "backbone": {"name": "resnet18"},
    },
)
MINIIMAGENET_FSCIL = ScenarioSpec(
    FscilParams,
    build,
    {
        "train": {"epochs": 5, "lr": 0.1, "momentum": 0.9, "batch_size": 128},
        "backbone": {"name": "resnet18"},
    },
)
