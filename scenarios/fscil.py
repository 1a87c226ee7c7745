"""Few-shot class-incremental streams (FSCIL): CIFAR-100, CUB-200-2011, miniImageNet.

Protocol (CEC, Zhang et al., CVPR 2021, reused by TEEN and others): a base session with many
classes, then sessions of N-way K-shot novel classes. With `scenario.protocol=cec` (default)
the training data of every session is exactly the one named in the standard CEC index lists
(`scenario.index_lists=DIR`, holding `cifar100/`, `cub200/`, `mini_imagenet/`, or one of them
directly). `scenario.protocol=seeded` draws the shots with `scenario.shot_seed` instead and
marks `info["standard_protocol"]=False` (non-standard: numbers are not comparable to papers).

Test data: test experience j holds all test images of the classes that are new in session j,
so the runner's accuracy on seen data after session t (test experiences 0..t pooled) is the
accuracy on all test images of every class seen so far: the FSCIL number. A[t][0] is the
base-class accuracy, test experiences 1..t pooled the novel-class accuracy.

Class ids follow CEC: CIFAR-100 fine labels; CUB class id - 1; miniImageNet the order in which
wnids first appear in train.csv. Classes never named by a list keep their id and are unused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clbench.config import ScenarioParams
from clbench.datasets import locate
from clbench.errors import ClbenchError, DataNotFoundError
from scenarios.base import ScenarioSpec, domain_incremental
from scenarios.imagedata import (
    CIFAR100_MEAN,
    CIFAR100_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageScenario,
    image_info,
    read_images,
)

CEC_URL = "https://github.com/icoz69/CEC-CVPR2021 (data/index_list/)"


@dataclass
class FscilParams(ScenarioParams):
    index_lists: str | None = None  # folder of the CEC session lists
    protocol: str = "cec"  # cec: the standard lists | seeded: shots drawn with shot_seed
    shot_seed: int = 0


@dataclass
class Pool:
    """The images of one split of a dataset, addressable by index-list entry."""

    labels: np.ndarray  # class id per item
    lookup: Callable[[str], int | None]  # an index-list line -> item index (None: unknown)
    load: Callable[[np.ndarray], torch.Tensor]  # item indices -> uint8 (N, 3, H, W)
    path: Callable[[int], Path] | None = None  # the item's image file (None: in memory)


@dataclass(frozen=True)
class FscilDataset:
    list_folder: str  # subfolder of scenario.index_lists
    num_classes: int
    base_classes: int
    ways: int
    shots: int
    sessions: int  # novel sessions after the base one
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_transform: str
    pools: Callable[[Any, Any], tuple[Pool, Pool]]  # (data.root, data.download) -> train, test


# -- index lists ----------------------------------------------------------------------------


def list_dir(index_lists: str | None, ds: FscilDataset, what: str) -> Path:
    """The folder holding `session_1.txt..` for `ds`."""
    if not index_lists:
        raise ClbenchError(
            f"{what}: scenario.index_lists is not set; get the CEC session lists from {CEC_URL} "
            f"and set scenario.index_lists=DIR (DIR/{ds.list_folder}/session_1.txt), "
            "or set scenario.protocol=seeded (non-standard)"
        )
    base = Path(str(index_lists)).expanduser()
    for folder in (base / ds.list_folder, base):
        if (folder / "session_1.txt").is_file():
            return folder
    raise DataNotFoundError(
        f"{what}: {base / ds.list_folder / 'session_1.txt'} does not exist "
        f"(scenario.index_lists={index_lists}); get the CEC session lists from {CEC_URL}"
    )


def read_lists(folder: Path, n_sessions: int) -> list[tuple[Path, list[str]]]:
    """(file, non-empty lines) of session_1.txt .. session_<n_sessions>.txt."""
    out = []
    for s in range(1, n_sessions + 1):
        path = folder / f"session_{s}.txt"
        try:
            lines = [ln.strip() for ln in path.read_text().splitlines()]
        except FileNotFoundError:
            raise DataNotFoundError(f"FSCIL index list {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ClbenchError(f"cannot read FSCIL index list {path}: {e}") from None
        out.append((path, [ln for ln in lines if ln]))
    return out


def resolve_sessions(
    lists: list[tuple[Path, list[str]]], pool: Pool, check_files: bool = True
) -> list[np.ndarray]:
    """Item indices per session; a one-line error names the list file, line and entry when an
    entry is malformed, unknown, repeated, names a missing image, or brings back an old class."""
    sessions: list[np.ndarray] = []
    seen_classes: set[int] = set()
    for path, lines in lists:
        idx = []
        for n, line in enumerate(lines, start=1):
            i = pool.lookup(line)
            if i is None:
                raise ClbenchError(f"{path}, line {n}: '{line}' names no training image")
            if pool.path is not None and check_files and not pool.path(i).is_file():
                raise DataNotFoundError(f"{path}, line {n}: image {pool.path(i)} does not exist")
            idx.append(i)
        arr = np.asarray(idx, dtype=np.int64)
        if len(np.unique(arr)) != len(arr):
            raise ClbenchError(f"{path}: an image is listed twice")
        classes = set(pool.labels[arr].tolist())
        if not classes:
            raise ClbenchError(f"{path} is empty")
        if classes & seen_classes:
            raise ClbenchError(
                f"{path}: classes {sorted(classes & seen_classes)} were already introduced"
            )
        seen_classes |= classes
        sessions.append(arr)
    return sessions


def seeded_sessions(pool: Pool, ds: FscilDataset, seed: int) -> list[np.ndarray]:
    """Non-standard sessions: every training image of classes 0..base-1, then `ways` classes
    per session in id order with `shots` images each drawn with `seed` (our choice)."""
    rng = np.random.default_rng(seed)
    out = [np.flatnonzero(pool.labels < ds.base_classes)]
    for s in range(ds.sessions):
        first = ds.base_classes + s * ds.ways
        picks = []
        for c in range(first, first + ds.ways):
            items = np.flatnonzero(pool.labels == c)
            if len(items) < ds.shots:
                raise ClbenchError(
                    f"class {c} has {len(items)} training images, fewer than {ds.shots} shots"
                )
            picks.append(np.sort(rng.choice(items, ds.shots, replace=False)))
        out.append(np.concatenate(picks))
    return out


# -- datasets -------------------------------------------------------------------------------


def cifar100_pools(root: Any, download: Any) -> tuple[Pool, Pool]:
    from scenarios.cifar import load_cifar

    trx, try_ = load_cifar("cifar100", root, True, bool(download))
    tex, tey = load_cifar("cifar100", root, False, bool(download))

    def lookup(line: str) -> int | None:
        # CEC lists hold indices into the training file, in its order
        try:
            i = int(line)
        except ValueError:
            return None
        return i if 0 <= i < len(try_) else None

    return (
        Pool(try_.numpy(), lookup, lambda idx: trx[torch.as_tensor(idx)]),
        Pool(tey.numpy(), lambda _: None, lambda idx: tex[torch.as_tensor(idx)]),
    )


def _read_table(path: Path, cols: int) -> list[list[str]]:
    """Whitespace-separated rows with `cols` fields (CUB's metadata files)."""
    try:
        rows = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    except FileNotFoundError:
        raise DataNotFoundError(f"{path} does not exist") from None
    for n, r in enumerate(rows, start=1):
        if len(r) != cols:
            raise ClbenchError(f"{path}, line {n}: expected {cols} fields, got {len(r)}")
    return rows


def cub_pools(
    root: Any, download: Any = False, size: int = 224, resize: int = 256
) -> tuple[Pool, Pool]:
    """CUB-200-2011 from its metadata files; images Resize(256) + CenterCrop(224) (CEC's test
    preprocessing, used for training images too: our choice, see imagedata.py)."""
    folder = locate("cub200", root)
    paths = dict(_read_table(folder / "images.txt", 2))
    try:
        label = {i: int(c) - 1 for i, c in _read_table(folder / "image_class_labels.txt", 2)}
        is_train = {i: int(t) == 1 for i, t in _read_table(folder / "train_test_split.txt", 2)}
    except ValueError as e:
        raise ClbenchError(f"CUB metadata under {folder}: {e}") from None
    pools = []
    for train in (True, False):
        ids = [i for i in paths if is_train.get(i) is train]
        rel = [paths[i] for i in ids]
        files = [folder / "images" / r for r in rel]
        labels = np.asarray([label[i] for i in ids], dtype=np.int64)
        where = {f"CUB_200_2011/images/{r}": k for k, r in enumerate(rel)}

        def load(idx: np.ndarray, files: list[Path] = files) -> torch.Tensor:
            return read_images([files[i] for i in idx], size, resize)

        pools.append(Pool(labels, where.get, load, files.__getitem__))
    return pools[0], pools[1]


def _read_csv(path: Path) -> list[tuple[str, str]]:
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    except FileNotFoundError:
        raise DataNotFoundError(f"{path} does not exist") from None
    rows = []
    for n, ln in enumerate(lines[1:], start=2):  # first line: filename,label
        parts = ln.split(",")
        if len(parts) != 2:
            raise ClbenchError(f"{path}, line {n}: expected 'filename,label'")
        rows.append((parts[0], parts[1]))
    return rows


def mini_pools(root: Any, download: Any = False) -> tuple[Pool, Pool]:
    """miniImageNet in CEC's layout: images/<file>.jpg, split/{train,test}.csv. Training
    images at 84x84; test images Resize(92) + CenterCrop(84) as CEC does."""
    folder = locate("miniimagenet", root)
    train_rows = _read_csv(folder / "split" / "train.csv")
    test_rows = _read_csv(folder / "split" / "test.csv")
    wnids: dict[str, int] = {}
    for _, w in train_rows:
        wnids.setdefault(w, len(wnids))
    pools = []
    for rows, resize, csv in ((train_rows, None, "train.csv"), (test_rows, 92, "test.csv")):
        files = [folder / "images" / f for f, _ in rows]
        try:
            labels = np.asarray([wnids[w] for _, w in rows], dtype=np.int64)
        except KeyError as e:
            raise ClbenchError(f"{folder / 'split' / csv}: class {e} is not in train.csv") from None
        # list entries are MINI-ImageNet/train/<wnid>/<file>.jpg; CEC keys them by file name
        where = {f: k for k, (f, _) in enumerate(rows)}

        def load(
            idx: np.ndarray, files: list[Path] = files, resize: int | None = resize
        ) -> torch.Tensor:
            return read_images([files[i] for i in idx], 84, resize)

        pools.append(
            Pool(
                labels,
                lambda line, w=where: w.get(line.rsplit("/", 1)[-1]),
                load,
                files.__getitem__,
            )
        )
    return pools[0], pools[1]


FSCIL_DATASETS = {
    "cifar100-fscil": FscilDataset(
        "cifar100",
        100,
        60,
        5,
        5,
        8,
        (3, 32, 32),
        CIFAR100_MEAN,
        CIFAR100_STD,
        "crop-pad4-flip",
        cifar100_pools,
    ),
    "cub200-fscil": FscilDataset(
        "cub200",
        200,
        100,
        10,
        5,
        10,
        (3, 224, 224),
        IMAGENET_MEAN,
        IMAGENET_STD,
        "random-resized-crop-flip",
        cub_pools,
    ),
    "miniimagenet-fscil": FscilDataset(
        "mini_imagenet",
        100,
        60,
        5,
        5,
        8,
        (3, 84, 84),
        IMAGENET_MEAN,
        IMAGENET_STD,
        "random-resized-crop-flip",
        mini_pools,
    ),
}


def build(params: FscilParams, data: Any) -> ImageScenario:
    ds = FSCIL_DATASETS[params.name]
    if params.protocol not in ("cec", "seeded"):
        raise ClbenchError(
            f"{params.name}: scenario.protocol must be cec or seeded, not '{params.protocol}'"
        )
    standard = params.protocol == "cec"
    lists = (
        read_lists(list_dir(params.index_lists, ds, params.name), ds.sessions + 1)
        if standard
        else None
    )
    train, test = ds.pools(data.root, data.download)
    sessions = (
        resolve_sessions(lists, train) if lists else seeded_sessions(train, ds, params.shot_seed)
    )

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
        standard_protocol=standard,
        base_classes=len(set(train.labels[sessions[0]].tolist())),
        session_sizes=[len(s) for s in sessions],
    )
    # classes never trained on (none under the standard lists) go last in the order
    order += [c for c in range(ds.num_classes) if c not in set(order)]
    return ImageScenario(
        params.name, ds.num_classes, ds.input_shape, order, domain_incremental(exps), info
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
