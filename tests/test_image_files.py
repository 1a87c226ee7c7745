"""Streams read from disk (`ImageFiles`, decoded per item by DataLoader workers) give the very
batches of the in-memory path: the same samples in the same order for every process of a DDP
run (clbench/batching.py decides the order), in training and in evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from clbench.batching import train_loader
from clbench.evaluation import labels_of, shard_batches
from scenarios.imagedata import ImageFiles, read_images


@pytest.fixture
def folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(13):  # odd sizes and an odd count: ragged last batches and shards
        p = tmp_path / f"img{i}.jpg"
        Image.fromarray(rng.integers(0, 256, (7 + i % 3, 9, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    labels = torch.arange(13) % 4
    return paths, labels


def _both(folder, workers: int):
    paths, labels = folder
    disk = ImageFiles(paths, labels, size=6, resize=8, workers=workers)
    memory = TensorDataset(read_images(paths, 6, 8), labels)
    return disk, memory


def _batches(loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(b[0], b[1]) for b in loader]


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("world", [1, 2])
def test_training_batches_from_disk_equal_the_in_memory_ones(folder, world, workers):
    disk, memory = _both(folder, workers)
    for rank in range(world):
        loaders = [train_loader(d, 4, world, rank, seed=3) for d in (disk, memory)]
        assert loaders[0].num_workers == workers and loaders[1].num_workers == 0
        for epoch in range(2):  # a new permutation each epoch, the same on both paths
            for ld in loaders:
                ld.sampler.set_epoch(epoch)
            got, want = _batches(loaders[0]), _batches(loaders[1])
            assert len(got) == len(want) > 0
            for (gx, gy), (wx, wy) in zip(got, want, strict=True):
                assert gx.dtype == torch.uint8 and torch.equal(gx, wx) and torch.equal(gy, wy)


@pytest.mark.parametrize("world", [1, 2])
def test_evaluation_shards_from_disk_equal_the_in_memory_ones(folder, world):
    disk, memory = _both(folder, workers=0)
    for rank in range(world):
        got = list(shard_batches(disk, rank, world, 5))
        want = list(shard_batches(memory, rank, world, 5))
        assert [len(y) for _, y in got] == [len(y) for _, y in want]
        for (gx, gy), (wx, wy) in zip(got, want, strict=True):
            assert torch.equal(gx, wx) and torch.equal(gy, wy)
    assert torch.equal(labels_of(disk), labels_of(memory))


def test_paths_and_labels_must_pair(folder):
    paths, labels = folder
    with pytest.raises(ValueError, match="12 image files for 13 labels"):
        ImageFiles(paths[:-1], labels, size=6)
