"""The images of the FSCIL datasets as `Pool`s (scenarios/fscil_sessions.py): CIFAR-100 from its
python pickles, CUB-200-2011 from its metadata files, miniImageNet in CEC's layout.

`load` reads only the items asked for: a stream decodes the images its sessions name and the
test images of their classes, never the whole image folder. `size` is the side the images are
loaded at (None: the protocol's, 32 / 224 / 84); a smaller one is our choice for quick runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clbench.datasets import locate
from clbench.errors import ClbenchError, DataNotFoundError
from scenarios.fscil_sessions import Pool, bundled_dir, read_text
from scenarios.imagedata import read_images


def _resized(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> uint8 (N, 3, size, size), bilinear with antialiasing."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    y = torch.nn.functional.interpolate(
        x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return y.round().clamp(0, 255).to(torch.uint8)


def cifar100_pools(root: Any, download: Any, size: int | None = None) -> tuple[Pool, Pool]:
    from scenarios.cifar import load_cifar

    trx, try_ = load_cifar("cifar100", root, True, bool(download))
    tex, tey = load_cifar("cifar100", root, False, bool(download))
    side = size or 32

    def lookup(line: str) -> int | None:
        # CEC lists hold indices into the training file, in its order
        try:
            i = int(line)
        except ValueError:
            return None
        return i if 0 <= i < len(try_) else None

    return (
        Pool(try_.numpy(), lookup, lambda idx: _resized(trx[torch.as_tensor(idx)], side)),
        Pool(tey.numpy(), lambda _: None, lambda idx: _resized(tex[torch.as_tensor(idx)], side)),
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


def cub_pools(root: Any, download: Any = False, size: int | None = None) -> tuple[Pool, Pool]:
    """CUB-200-2011 from its metadata files; images Resize(256) + CenterCrop(224) (CEC's test
    preprocessing, used for training images too: our choice, see imagedata.py)."""
    folder = locate("cub200", root)
    side = size or 224
    resize = round(side * 256 / 224)
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
        try:
            labels = np.asarray([label[i] for i in ids], dtype=np.int64)
        except KeyError as e:
            raise ClbenchError(
                f"{folder / 'image_class_labels.txt'}: no class for image {e}"
            ) from None
        where = {f"CUB_200_2011/images/{r}": k for k, r in enumerate(rel)}

        def load(idx: np.ndarray, files: list[Path] = files) -> torch.Tensor:
            return read_images([files[i] for i in idx], side, resize)

        pools.append(Pool(labels, where.get, load, files.__getitem__))
    return pools[0], pools[1]


def _read_csv(folder: Any, name: str) -> list[tuple[str, str]]:
    """The rows of miniImageNet's split/<name> (header filename,label)."""
    path, text = read_text(folder, name)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    rows = []
    for n, ln in enumerate(lines[1:], start=2):
        parts = ln.split(",")
        if len(parts) != 2:
            raise ClbenchError(f"{path}, line {n}: expected 'filename,label'")
        rows.append((parts[0], parts[1]))
    return rows


def mini_pools(root: Any, download: Any = False, size: int | None = None) -> tuple[Pool, Pool]:
    """miniImageNet in CEC's layout: images/<file>.jpg and split/{train,test}.csv (CEC's split,
    shipped with clbench, when the folder has no split/). Training images at 84x84; test
    images Resize(92) + CenterCrop(84) as CEC does."""
    folder = locate("miniimagenet", root)
    side = size or 84
    split = folder / "split"
    if not (split / "train.csv").is_file() and not (split / "test.csv").is_file():
        split = bundled_dir("mini_imagenet")
    train_rows, test_rows = _read_csv(split, "train.csv"), _read_csv(split, "test.csv")
    wnids: dict[str, int] = {}
    for _, w in train_rows:
        wnids.setdefault(w, len(wnids))
    pools = []
    for rows, resize, csv in (
        (train_rows, None, "train.csv"),
        (test_rows, round(side * 92 / 84), "test.csv"),
    ):
        names = [f for f, _ in rows]  # Paths made on demand: 60,000 rows
        try:
            labels = np.asarray([wnids[w] for _, w in rows], dtype=np.int64)
        except KeyError as e:
            raise ClbenchError(f"{split / csv}: class {e} is not in train.csv") from None
        # list entries are MINI-ImageNet/train/<wnid>/<file>.jpg; CEC keys them by file name
        where = {f: k for k, (f, _) in enumerate(rows)}

        def path(i: int, names: list[str] = names) -> Path:
            return folder / "images" / names[i]

        def load(
            idx: np.ndarray, path: Callable[[int], Path] = path, resize: int | None = resize
        ) -> torch.Tensor:
            return read_images([path(i) for i in idx], side, resize)

        pools.append(Pool(labels, lambda line, w=where: w.get(line.rsplit("/", 1)[-1]), load, path))
    return pools[0], pools[1]
