"""The whole-batch loader path gives exactly the batches of the per-sample path."""

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, TensorDataset

from clbench import batching
from clbench.runner import train_loader


def _parts() -> list[TensorDataset]:
    g = torch.Generator().manual_seed(0)
    return [
        TensorDataset(torch.randn(n, 1, 4, 4, generator=g), torch.arange(n) + 100 * i)
        for i, n in enumerate([7, 5, 9])
    ]


def _per_sample(data: Dataset, batch_size: int, seed: int) -> list[list[torch.Tensor]]:
    from clbench.runner import ExperienceSampler

    sampler = ExperienceSampler(data, num_replicas=1, rank=0, shuffle=True, seed=seed)
    sampler.set_epoch(0)
    return list(DataLoader(data, batch_size=batch_size, sampler=sampler))


def test_concat_of_tensor_datasets_gathers_the_same_batches_in_order():
    data = ConcatDataset(_parts())
    loader = train_loader(data, 4, 1, 0, seed=3)
    assert isinstance(loader.dataset, batching.BatchedTensors)
    loader.sampler.set_epoch(0)
    fast = list(loader)
    slow = _per_sample(data, 4, 3)
    assert len(fast) == len(slow) == 6  # 21 samples in batches of 4
    for (fx, fy), (sx, sy) in zip(fast, slow, strict=True):
        assert torch.equal(fx, sx) and torch.equal(fy, sy)


def test_single_tensor_dataset_and_item_access():
    part = _parts()[1]
    fast = batching.batched(part)
    assert fast is not None and len(fast) == 5
    x, y = fast.__getitems__([4, 0])
    assert torch.equal(y, torch.tensor([104, 100])) and torch.equal(x[1], part.tensors[0][0])
    assert torch.equal(fast[2][0], part[2][0])


def test_other_datasets_keep_the_per_sample_path():
    class Plain(Dataset):
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            return torch.zeros(2), i

    assert batching.batched(Plain()) is None
    assert batching.batched(ConcatDataset([_parts()[0], Plain()])) is None
    mismatched = ConcatDataset([_parts()[0], TensorDataset(torch.zeros(2, 3), torch.zeros(2))])
    assert batching.batched(mismatched) is None
    assert not isinstance(train_loader(Plain(), 2, 1, 0, seed=0).dataset, batching.BatchedTensors)
