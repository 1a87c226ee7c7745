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


def _jpeg(path: Path, rng: np.random.Generator, size: tuple[int, int] = (10, 8)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def write_cub(root: Path, n_classes: int = 12, train: int = 2, test: int = 1, seed: int = 0):
    """CUB_200_2011 with images.txt, image_class_labels.txt, train_test_split.txt, classes.txt
    and tiny JPEGs under images/<class folder>/. Returns {class id - 1: [train list entries]}."""
    rng = np.random.default_rng(seed)
    folder = root / "CUB_200_2011"
    images, labels, split, classes, entries = [], [], [], [], {}
    k = 0
    for c in range(1, n_classes + 1):
        cname = f"{c:03d}.Bird_{c}"
        classes.append(f"{c} {cname}")
        for j in range(train + test):
            k += 1
            rel = f"{cname}/Bird_{c}_{j:04d}_{k}.jpg"
            _jpeg(folder / "images" / rel, rng)
            images.append(f"{k} {rel}")
            labels.append(f"{k} {c}")
            split.append(f"{k} {int(j < train)}")
            if j < train:
                entries.setdefault(c - 1, []).append(f"CUB_200_2011/images/{rel}")
    for name, rows in (
        ("images", images),
        ("image_class_labels", labels),
        ("train_test_split", split),
        ("classes", classes),
    ):
        (folder / f"{name}.txt").write_text("\n".join(rows) + "\n")
    return entries


def write_mini(root: Path, n_classes: int = 6, train: int = 2, test: int = 1, seed: int = 0):
    """miniimagenet/images/<file>.jpg (84x84) and split/{train,test}.csv as in CEC.
    Returns {class id: [train list entries MINI-ImageNet/train/<wnid>/<file>]}."""
    rng = np.random.default_rng(seed)
    folder = root / "miniimagenet"
    rows = {"train": ["filename,label"], "test": ["filename,label"]}
    entries = {}
    for c in range(n_classes):
        wnid = f"n{1000 + c:08d}"
        for j in range(train + test):
            split = "train" if j < train else "test"
            fname = f"{wnid}{j:08d}.jpg"
            _jpeg(folder / "images" / fname, rng, (84, 84))
            rows[split].append(f"{fname},{wnid}")
            if split == "train":
                entries.setdefault(c, []).append(f"MINI-ImageNet/train/{wnid}/{fname}")
    (folder / "split").mkdir(parents=True, exist_ok=True)
    for split, lines in rows.items():
        (folder / "split" / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return entries


def write_session_lists(folder: Path, sessions: list[list[str]]) -> Path:
    """session_1.txt .. session_<n>.txt, one entry a line."""
    folder.mkdir(parents=True, exist_ok=True)
    for s, lines in enumerate(sessions, start=1):
        (folder / f"session_{s}.txt").write_text("\n".join(str(x) for x in lines) + "\n")
    return folder


def write_cifar_c(
    root: Path,
    folder: str = "CIFAR-10-C",
    per_severity: int = 4,
    num_classes: int = 10,
    corruptions=None,
    seed: int = 0,
) -> Path:
    """<folder>/<corruption>.npy (5*per_severity, 32, 32, 3) uint8 and labels.npy; image k of
    severity s has every pixel of its first row equal to s (to check the slicing)."""
    from clbench.datasets import CIFAR_C_CORRUPTIONS

    rng = np.random.default_rng(seed)
    out = root / folder
    out.mkdir(parents=True, exist_ok=True)
    n = 5 * per_severity
    for c in corruptions or CIFAR_C_CORRUPTIONS:
        x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        for s in range(5):
            x[s * per_severity : (s + 1) * per_severity, 0] = s + 1
        np.save(out / f"{c}.npy", x)
    np.save(out / "labels.npy", (np.arange(n) % num_classes).astype(np.int64))
    return out


def write_tinyimagenet(root: Path, n_classes: int = 4, train: int = 2, val: int = 1, seed: int = 0):
    """tiny-imagenet-200/{wnids.txt, words.txt, train/<wnid>/images/<wnid>_<i>.JPEG,
    train/<wnid>/<wnid>_boxes.txt, val/val_annotations.txt, val/images/val_<i>.JPEG}."""
    rng = np.random.default_rng(seed)
    folder = root / "tiny-imagenet-200"
    wnids = [f"n{2000 + c:08d}" for c in range(n_classes)]
    (folder / "val" / "images").mkdir(parents=True)
    (folder / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (folder / "words.txt").write_text("".join(f"{w}\tthing {w}\n" for w in wnids))
    ann, k = [], 0
    for w in wnids:
        for i in range(train):
            _jpeg(folder / "train" / w / "images" / f"{w}_{i}.JPEG", rng, (64, 64))
        (folder / "train" / w / f"{w}_boxes.txt").write_text(
            "".join(f"{w}_{i}.JPEG\t0\t0\t63\t63\n" for i in range(train))
        )
        for _ in range(val):
            _jpeg(folder / "val" / "images" / f"val_{k}.JPEG", rng, (64, 64))
            ann.append(f"val_{k}.JPEG\t{w}\t0\t0\t63\t63")
            k += 1
    (folder / "val" / "val_annotations.txt").write_text("\n".join(ann) + "\n")
    return folder


def write_core50(root: Path, objects: int = 3, frames: int = 2, seed: int = 0, run: int = 0):
    """core50/core50_128x128/s<k>/o<j>/C_<kk>_<jj>_<fff>.png and the NI file lists of one run
    (train sessions 1,2,4,5,6,8,9,11 in that order; test sessions 3, 7, 10)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = root / "core50"
    lists = base / "batches_filelists" / "NI_inc" / f"run{run}"
    lists.mkdir(parents=True)

    def rows(session):
        out = []
        for o in range(1, objects + 1):
            for f in range(frames):
                rel = f"s{session}/o{o}/C_{session:02d}_{o:02d}_{f:03d}.png"
                p = base / "core50_128x128" / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(p)
                out.append(f"{rel} {o - 1}")
        return out

    for b, s in enumerate((1, 2, 4, 5, 6, 8, 9, 11)):
        (lists / f"train_batch_{b:02d}_filelist.txt").write_text("\n".join(rows(s)) + "\n")
    (lists / "test_filelist.txt").write_text("\n".join(rows(3) + rows(7) + rows(10)) + "\n")
    (base / "core50_128x128" / "s1").mkdir(parents=True, exist_ok=True)
    return base


def write_omniglot(root: Path, alphabets: int = 2, characters: int = 2, drawings: int = 20) -> Path:
    """omniglot-py/images_background/<alphabet>/<character>/<id>_<nn>.png: 105x105 binary
    ("1"-mode) PNGs as torchvision unpacks them. Drawing n of a character has its top-left
    n x n pixels black (0) on white (1), so a test can tell which file was read."""
    from PIL import Image

    folder = root / "omniglot-py" / "images_background"
    for a in range(alphabets):
        for c in range(characters):
            char = folder / f"Alphabet_{a}" / f"character{c + 1:02d}"
            char.mkdir(parents=True, exist_ok=True)
            for n in range(drawings):
                arr = np.full((105, 105), 255, dtype=np.uint8)
                arr[:n, :n] = 0
                Image.fromarray(arr).convert("1").save(char / f"{a:02d}{c:02d}_{n + 1:02d}.png")
    return folder
