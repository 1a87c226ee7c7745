"""Writers of tiny datasets in the exact on-disk formats the loaders read (no downloads)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def _pickle(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def _images(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8)


def write_cifar10(root: Path, per_class_train: int = 2, per_class_test: int = 1, seed: int = 0):
    """cifar-10-batches-py: data_batch_1..5, test_batch, batches.meta (python pickles).
    Train labels: 0..9 repeated, spread over the five batches."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    labels = np.tile(np.arange(10), per_class_train)
    for i, part in enumerate(np.array_split(np.arange(len(labels)), 5), start=1):
        _pickle(
            folder / f"data_batch_{i}",
            {
                "batch_label": f"training batch {i} of 5",
                "labels": labels[part].tolist(),
                "data": _images(rng, len(part)),
                "filenames": [f"f{j}.png" for j in part],
            },
        )
    test_labels = np.tile(np.arange(10), per_class_test)
    _pickle(
        folder / "test_batch",
        {
            "batch_label": "testing batch 1 of 1",
            "labels": test_labels.tolist(),
            "data": _images(rng, len(test_labels)),
            "filenames": [f"t{j}.png" for j in range(len(test_labels))],
        },
    )
    _pickle(
        folder / "batches.meta",
        {
            "label_names": [f"c{i}" for i in range(10)],
            "num_cases_per_batch": 10000,
            "num_vis": 3072,
        },
    )
    return folder


def write_cifar100(root: Path, per_class_train: int = 2, per_class_test: int = 1, seed: int = 0):
    """cifar-100-python: train, test, meta (python pickles); train labels 0..99 repeated."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    for split, per in (("train", per_class_train), ("test", per_class_test)):
        fine = np.tile(np.arange(100), per)
        _pickle(
            folder / split,
            {
                "filenames": [f"{split}{j}.png" for j in range(len(fine))],
                "batch_label": split,
                "fine_labels": fine.tolist(),
                "coarse_labels": (fine // 5).tolist(),
                "data": _images(rng, len(fine)),
            },
        )
    _pickle(
        folder / "meta",
        {
            "fine_label_names": [f"f{i}" for i in range(100)],
            "coarse_label_names": [f"c{i}" for i in range(20)],
        },
    )
    return folder
