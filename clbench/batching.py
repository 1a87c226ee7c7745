"""The training loader: DDP-sharded, resumable batches, and whole-batch fetching for
in-memory datasets (its fast path).

`train_loader` gives process r of W positions r, r+W, ... of one seeded permutation per
epoch of the experience (`ExperienceSampler`), so the W local batches of a step together are
the single-process batch, and a resumed run draws the batches of an uninterrupted one.

PyTorch's DataLoader indexes a dataset one sample at a time and stacks the samples: for
MNIST-sized data that costs more than the model's step. When every part of the training
data is a `TensorDataset`, `batched` wraps it so that the loader gathers each batch with one
tensor index per field (`__getitems__`, which the DataLoader calls with the batch's
indices) and `pass_batch` hands the result on unchanged. The batches hold the same samples
in the same order as the per-sample path.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler, TensorDataset

from clbench.errors import ClbenchError


class BatchedTensors(Dataset):
    """A `TensorDataset` or a `ConcatDataset` of them, indexed a whole batch at a time."""

    def __init__(self, parts: list[TensorDataset]) -> None:
        self.parts = parts
        sizes = torch.tensor([len(p) for p in parts])
        self.starts = torch.cumsum(sizes, 0) - sizes
        self.ends = torch.cumsum(sizes, 0)
        self._len = int(sizes.sum())

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[0] for t in self.__getitems__([index]))

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        if len(self.parts) == 1:
            return tuple(t[idx] for t in self.parts[0].tensors)
        part = torch.searchsorted(self.ends, idx, right=True)
        first = self.parts[0].tensors
        out = [torch.empty((len(idx), *t.shape[1:]), dtype=t.dtype) for t in first]
        for p in torch.unique(part).tolist():
            rows = (part == p).nonzero().squeeze(1)
            local = idx[rows] - self.starts[p]
            for o, t in zip(out, self.parts[p].tensors, strict=True):
                o[rows] = t[local]
        return tuple(out)


def _tensor_parts(data: Dataset) -> list[TensorDataset] | None:
    if isinstance(data, TensorDataset):
        return [data]
    if isinstance(data, ConcatDataset):
        parts: list[TensorDataset] = []
        for d in data.datasets:
            sub = _tensor_parts(d)
            if sub is None:
                return None
            parts.extend(sub)
        return parts
    return None


def _compatible(parts: list[TensorDataset]) -> bool:
    first = parts[0].tensors
    return all(
        len(p.tensors) == len(first)
        and all(
            a.shape[1:] == b.shape[1:] and a.dtype == b.dtype
            for a, b in zip(p.tensors, first, strict=True)
        )
        for p in parts
    )


def batched(data: Dataset) -> Dataset | None:
    """`data` indexed whole batches at a time, or None when it is not made of tensors."""
    parts = _tensor_parts(data)
    if not parts or not _compatible(parts):
        return None
    return BatchedTensors(parts)


def pass_batch(batch: Any) -> Any:
    """The loader's collate function for `BatchedTensors`: the batch is already gathered."""
    return list(batch)


class ExperienceSampler(DistributedSampler):
    """Shuffles by (seed, epoch within the experience), whatever Lightning's global epoch
    count is, so a resumed run draws the same batches as an uninterrupted one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._first_epoch: int | None = None

    def set_epoch(self, epoch: int) -> None:
        if self._first_epoch is None:
            self._first_epoch = epoch
        super().set_epoch(epoch - self._first_epoch)


def train_loader(
    data: Dataset, batch_size: int, world: int, rank: int, seed: int, shuffle: bool = True
) -> DataLoader:
    """A shuffled loader whose global batches do not depend on the number of processes.

    Process r takes positions r, r+W, ... of one seeded permutation (of the stored order when
    `shuffle` is off), so the W local batches of step k together are exactly the
    single-process batch k.
    """
    if batch_size % world:
        raise ClbenchError(
            f"train.batch_size={batch_size} must be divisible by the {world} processes"
        )
    sampler = ExperienceSampler(data, num_replicas=world, rank=rank, shuffle=shuffle, seed=seed)
    fast = batched(data)  # in-memory tensors: gather each batch in one index
    if fast is not None:
        return DataLoader(
            fast, batch_size=batch_size // world, sampler=sampler, collate_fn=pass_batch
        )
    # datasets read from disk item by item (e.g. ImageFiles) say how many workers decode them;
    # the sampler alone decides the order, so workers change the speed, never the batches
    workers = int(getattr(data, "workers", 0))
    return DataLoader(data, batch_size=batch_size // world, sampler=sampler, num_workers=workers)
