"""Prototype machinery and NMC's math against hand-computed values."""

import pytest
import torch

from strategies.prototypes import (
    FeatureCache,
    PrototypeTable,
    class_sums,
    cosine_logits,
    encode_class_sums,
    nearest_cosine,
    nearest_euclidean,
)


def test_streaming_sums_equal_batch_means_in_any_order():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(60, 5, generator=g)
    y = torch.randint(0, 4, (60,), generator=g)
    whole = PrototypeTable(4, 5)
    whole.add(f, y)
    for perm in (torch.arange(60), torch.randperm(60, generator=g)):
        streamed = PrototypeTable(4, 5)
        for chunk in perm.split(7):  # uneven batches, shuffled order
            streamed.add(f[chunk], y[chunk])
        assert torch.allclose(streamed.means(), whole.means(), atol=1e-6)
    for c in range(4):
        assert torch.allclose(whole.means()[c], f[y == c].mean(0), atol=1e-6)


def test_unseen_classes_are_zero_rows_and_masked():
    t = PrototypeTable(3, 2)
    t.add(torch.tensor([[1.0, 3.0], [3.0, 5.0]]), torch.tensor([2, 2]))
    assert t.seen.tolist() == [False, False, True]
    assert t.means().tolist() == [[0, 0], [0, 0], [2.0, 4.0]]
    # a zero prototype of an unseen class is never chosen, though it is nearest
    q = torch.tensor([[0.1, 0.1]])
    assert nearest_euclidean(q, t.means(), t.seen).tolist() == [2]
    assert nearest_euclidean(q, t.means()).tolist() == [0]


def test_class_sums_by_hand():
    sums, counts = class_sums(
        torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), torch.tensor([1, 0, 1]), 3
    )
    assert sums.tolist() == [[3, 4], [6, 8], [0, 0]] and counts.tolist() == [1, 2, 0]


def test_euclidean_and_cosine_disagree():
    # Normalised features: class 0 saw (1,0) and (0,1) -> mean (0.5,0.5), not re-normalised;
    # class 1 saw (0.6,0.8) twice. Query (0.8,0.6): cos to class 0 = 1.4/sqrt(2) = 0.990 >
    # 0.96; squared distances 0.3^2+0.1^2 = 0.10 > 0.2^2+0.2^2 = 0.08.
    t = PrototypeTable(2, 2)
    t.add(
        torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.6, 0.8]]), torch.tensor([0, 0, 1, 1])
    )
    q = torch.tensor([[0.8, 0.6]])
    assert nearest_cosine(q, t.means()).tolist() == [0]
    assert nearest_euclidean(q, t.means()).tolist() == [1]


def test_adding_classes_never_changes_decision_between_old_classes():
    g = torch.Generator().manual_seed(1)
    protos = torch.randn(6, 8, generator=g)
    q = torch.randn(200, 8, generator=g)
    for nearest in (nearest_euclidean, nearest_cosine):
        old = torch.tensor([True, True, True, False, False, False])
        before = nearest(q, protos, old)
        after = nearest(q, protos, torch.ones(6, dtype=torch.bool))
        moved = after != before
        assert (after[moved] >= 3).all()  # a changed decision only ever goes to a new class


def test_cosine_logits_temperature_and_mask():
    logits = cosine_logits(
        torch.tensor([[3.0, 4.0]]),
        torch.tensor([[2.0, 0.0], [0.0, 5.0]]),
        16.0,
        torch.tensor([True, False]),
    )
    assert logits[0, 0].item() == pytest.approx(16 * 0.6)
    assert logits[0, 1].item() == float("-inf")


def test_feature_cache_encodes_each_sample_once():
    calls = []

    def encode(x):
        calls.append(len(x))
        return x.flatten(1) * 2

    cache = FeatureCache(encode)
    x = torch.arange(12.0).view(6, 2)
    assert torch.equal(cache(x[:4]), x[:4] * 2)
    assert torch.equal(cache(x), x * 2)  # only the 2 new rows are encoded
    assert torch.equal(cache(x[[5, 0]]), x[[5, 0]] * 2)
    assert calls == [4, 2] and cache.encoded == 6 and len(cache) == 6


def test_disabled_feature_cache_encodes_every_call():
    calls = []

    def encode(b):
        calls.append(len(b))
        return b * 2

    cache = FeatureCache(encode, enabled=False)
    x = torch.arange(12.0).view(6, 2)
    assert torch.equal(cache(x[:4]), x[:4] * 2) and torch.equal(cache(x), x * 2)
    assert calls == [4, 6] and cache.encoded == 10 and len(cache) == 0


def test_encode_class_sums_single_process():
    x = torch.arange(10.0).view(5, 2)
    y = torch.tensor([0, 1, 0, 1, 1])
    sums, counts = encode_class_sums(lambda b: b, x, y, 2, 2, 2, torch.device("cpu"))
    assert sums.tolist() == [[4, 6], [16, 19]] and counts.tolist() == [2, 3]
