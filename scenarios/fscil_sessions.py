"""FSCIL session lists: the CEC lists shipped in scenarios/fscil_lists/, user lists
(`scenario.index_lists=DIR`), their resolution to training images, the protocol check and the
hash a record carries.

A list folder holds `session_1.txt .. session_<n>.txt` (each may be gzip-compressed as
`session_<i>.txt.gz`: the shipped base sessions are). The hash is the SHA-256 of the sessions'
non-empty lines, so the same lists hash alike whether compressed or not, wherever they live.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clbench.errors import ClbenchError, DataNotFoundError

CEC_URL = "https://github.com/icoz69/CEC-CVPR2021 (data/index_list/)"
Folder = Any  # a Path, or the package's Traversable (importlib.resources) for the shipped lists


@dataclass
class Pool:
    """The images of one split of a dataset, addressable by index-list entry."""

    labels: np.ndarray  # class id per item
    lookup: Callable[[str], int | None]  # an index-list line -> item index (None: unknown)
    load: Callable[[np.ndarray], torch.Tensor]  # item indices -> uint8 (N, 3, H, W)
    path: Callable[[int], Path] | None = None  # the item's image file (None: in memory)


@dataclass(frozen=True)
class Shape:
    """What a protocol's sessions look like: the base session's class count, then `sessions`
    sessions of `ways` classes with `shots` images each."""

    base_classes: int
    ways: int
    shots: int
    sessions: int  # novel sessions after the base one


def bundled_dir(list_folder: str) -> Folder:
    """The CEC lists shipped with clbench (package data of `scenarios`)."""
    return resources.files("scenarios") / "fscil_lists" / list_folder


def user_dir(index_lists: str, list_folder: str, what: str) -> Path:
    """The folder holding `session_1.txt..` under scenario.index_lists."""
    base = Path(str(index_lists)).expanduser()
    for folder in (base / list_folder, base):
        if any((folder / f"session_1.txt{z}").is_file() for z in ("", ".gz")):
            return folder
    raise DataNotFoundError(
        f"{what}: {base / list_folder / 'session_1.txt'} does not exist "
        f"(scenario.index_lists={index_lists}); the CEC lists ship with clbench: unset "
        "scenario.index_lists to use them"
    )


def read_text(folder: Folder, name: str) -> tuple[Folder, str]:
    """(file, text) of `name` or `name.gz` in `folder`."""
    for path, opener in ((folder / name, None), (folder / f"{name}.gz", gzip.decompress)):
        if not path.is_file():
            continue
        try:
            data = path.read_bytes()
            return path, (opener(data) if opener else data).decode()
        except (OSError, UnicodeDecodeError, gzip.BadGzipFile, EOFError) as e:
            raise ClbenchError(f"cannot read FSCIL index list {path}: {e}") from None
    raise DataNotFoundError(f"FSCIL index list {folder / name} does not exist")


def read_lists(folder: Folder, n_sessions: int) -> list[tuple[Folder, list[str]]]:
    """(file, non-empty lines) of session_1.txt .. session_<n_sessions>.txt."""
    out = []
    for s in range(1, n_sessions + 1):
        path, text = read_text(folder, f"session_{s}.txt")
        out.append((path, [ln.strip() for ln in text.splitlines() if ln.strip()]))
    return out


def lists_sha256(lists: list[tuple[Folder, list[str]]]) -> str:
    h = hashlib.sha256()
    for s, (_, lines) in enumerate(lists, start=1):
        h.update(f"session_{s}\n".encode())
        h.update("".join(f"{ln}\n" for ln in lines).encode())
    return h.hexdigest()


def resolve_sessions(
    lists: list[tuple[Folder, list[str]]],
    pool: Pool,
    check_files: bool = True,
    test: Pool | None = None,
) -> list[np.ndarray]:
    """Item indices per session; a one-line error names the list file, line and entry when an
    entry is malformed, unknown, a test image, repeated, names a missing image, or brings back
    an old class."""
    sessions: list[np.ndarray] = []
    seen_classes: set[int] = set()
    for path, lines in lists:
        idx = []
        for n, line in enumerate(lines, start=1):
            i = pool.lookup(line)
            if i is None and test is not None and test.lookup(line) is not None:
                raise ClbenchError(f"{path}, line {n}: '{line}' is a test image")
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


def check_shape(
    lists: list[tuple[Folder, list[str]]],
    sessions: list[np.ndarray],
    labels: np.ndarray,
    shape: Shape,
    what: str,
) -> None:
    """A one-line error unless the sessions have the protocol's shape: `base_classes` classes in
    session 1, then `ways` classes of `shots` images each."""
    custom = "; scenario.protocol=custom accepts lists of another shape"
    for s, ((path, _), items) in enumerate(zip(lists, sessions, strict=True)):
        classes, counts = np.unique(labels[items], return_counts=True)
        if s == 0:
            if len(classes) != shape.base_classes:
                raise ClbenchError(
                    f"{path}: {_classes(len(classes))}, but the {what} protocol has "
                    f"{shape.base_classes} base classes{custom}"
                )
        elif len(classes) != shape.ways or set(counts.tolist()) != {shape.shots}:
            raise ClbenchError(
                f"{path}: {_classes(len(classes))} with {sorted(set(counts.tolist()))} images "
                f"each, but the {what} protocol has {shape.ways}-way {shape.shots}-shot "
                f"sessions{custom}"
            )


def seeded_sessions(pool: Pool, shape: Shape, seed: int) -> list[np.ndarray]:
    """Non-standard sessions: every training image of classes 0..base-1, then `ways` classes
    per session in id order with `shots` images each drawn with `seed` (our choice)."""
    rng = np.random.default_rng(seed)
    out = [np.flatnonzero(pool.labels < shape.base_classes)]
    for s in range(shape.sessions):
        first = shape.base_classes + s * shape.ways
        picks = []
        for c in range(first, first + shape.ways):
            items = np.flatnonzero(pool.labels == c)
            if len(items) < shape.shots:
                raise ClbenchError(
                    f"class {c} has {len(items)} training images, fewer than {shape.shots} shots"
                )
            picks.append(np.sort(rng.choice(items, shape.shots, replace=False)))
        out.append(np.concatenate(picks))
    return out


def _classes(n: int) -> str:
    return f"{n} class" if n == 1 else f"{n} classes"
