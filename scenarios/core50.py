"""CORe50 new-instances stream (NI; Lomonaco & Maltoni, CoRL 2017), kind "domain-il".

Files, as Avalanche's CORe50Dataset lays them out under `<data.root>/core50/`:
`core50_128x128/s<1..11>/o<1..50>/*.png` and
`batches_filelists/NI_inc/run<r>/{train_batch_00..07_filelist.txt, test_filelist.txt}`
(lines `s11/o1/C_11_01_000.png 0`). The 8 training sessions are the run's 8 batches; the test
set is the standard one (sessions 3, 7 and 10), the same for every experience: each test
experience holds the same TensorDataset, which the runner's evaluation scores once per row
(not 8 times).
50 object classes, or 10 categories (label // 5) with `scenario.object_level=false`.
`scenario.frame_stride=k` keeps every k-th image of each list (our choice, to fit memory:
the full stream is about 8 GB of uint8 images, 4x that as float32).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import TensorDataset

from clbench.config import ScenarioParams
from clbench.datasets import locate
from clbench.errors import ClbenchError, DataNotFoundError
from clbench.stream import Experience, _to_tensors
from scenarios.base import ScenarioSpec, domain_incremental
from scenarios.imagedata import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageScenario,
    image_info,
    read_images,
)

N_SESSIONS = 8


@dataclass
class Core50Params(ScenarioParams):
    run: int = 0  # NI run 0..9 (each a different order of the 8 training sessions)
    object_level: bool = True
    frame_stride: int = 1


def read_filelist(path: Path, stride: int) -> list[tuple[str, int]]:
    try:
        lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    except FileNotFoundError:
        raise DataNotFoundError(f"CORe50 file list {path} does not exist") from None
    out = []
    for n, parts in enumerate(lines, start=1):
        if len(parts) != 2 or not parts[1].isdigit():
            raise ClbenchError(f"{path}, line {n}: expected '<image path> <label>'")
        out.append((parts[0], int(parts[1])))
    return out[::stride]


@dataclass
class Core50Scenario(ImageScenario):
    """Reads the shared test set back once and hands the same tensor to every experience."""

    def experiences(self) -> list[Experience]:
        test = _to_tensors(self.benchmark.test_stream[0].dataset)  # uint8, like the training data
        out = []
        for i, tr in enumerate(self.benchmark.train_stream):
            x, y = _to_tensors(tr.dataset).tensors
            out.append(
                Experience(
                    i,
                    torch.unique(y).tolist(),
                    TensorDataset(x, y),
                    test,
                )
            )
        return out


def build(params: Core50Params, data: Any) -> Core50Scenario:
    if not 0 <= params.run <= 9:
        raise ClbenchError(f"{params.name}: scenario.run must be 0..9, not {params.run}")
    if params.frame_stride < 1:
        raise ClbenchError(f"{params.name}: scenario.frame_stride must be at least 1")
    images = locate("core50", data.root)
    lists = images.parent / "batches_filelists" / "NI_inc" / f"run{params.run}"

    def load(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
        rows = read_filelist(path, params.frame_stride)
        files = [images / p for p, _ in rows]
        for f in files:
            if not f.is_file():
                raise DataNotFoundError(f"{path}: image {f} does not exist")
        y = torch.tensor([c for _, c in rows], dtype=torch.int64)
        return read_images(files, 128), (y if params.object_level else y // 5)

    test = load(lists / "test_filelist.txt")
    sessions = [load(lists / f"train_batch_{b:02d}_filelist.txt") for b in range(N_SESSIONS)]
    n = 50 if params.object_level else 10
    info = image_info(IMAGENET_MEAN, IMAGENET_STD, "flip", shared_test_set=True)
    bench = domain_incremental([(s, test) for s in sessions])
    return Core50Scenario(params.name, n, (3, 128, 128), list(range(n)), bench, info)


CORE50 = ScenarioSpec(
    Core50Params,
    build,
    {
        "train": {"epochs": 1, "lr": 0.01, "momentum": 0.9, "batch_size": 128},
        "backbone": {"name": "resnet18"},
    },
)
