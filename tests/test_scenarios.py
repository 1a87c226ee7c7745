"""Scenarios: the streams hold what they say, and missing data is a clear error."""

import gzip
import struct

import numpy as np
import pytest
import torch

from clbench.compose import compose
from clbench.errors import DataNotFoundError
from scenarios import SCENARIOS


def _build(name, *overrides):
    cfg = compose("finetune", name, None, list(overrides))
    return SCENARIOS.load(name).build(cfg.scenario, cfg.data)


def test_split_mnist_5k():
    sc = _build("split-mnist-5k")
    exps = sc.experiences()
    assert [e.classes for e in exps] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert sum(len(e.train) for e in exps) == 4000
    assert sum(len(e.test) for e in exps) == 1000
    for e in exps:
        assert set(e.train.tensors[1].unique().tolist()) == set(e.classes)
        assert e.train.tensors[0].shape[1:] == (1, 28, 28)
    # stratified split: 100 test digits per class
    assert torch.bincount(torch.cat([e.test.tensors[1] for e in exps])).tolist() == [100] * 10


def test_class_order_and_experience_count():
    sc = _build(
        "split-mnist-5k", "scenario.n_experiences=2", "scenario.class_order=[9,8,7,6,5,4,3,2,1,0]"
    )
    assert [e.classes for e in sc.experiences()] == [[5, 6, 7, 8, 9], [0, 1, 2, 3, 4]]


def test_permuted_mnist_5k_is_domain_incremental():
    sc = _build("permuted-mnist-5k", "scenario.n_experiences=3")
    exps = sc.experiences()
    assert len(exps) == 3 and all(e.classes == list(range(10)) for e in exps)
    a, b = exps[0].train.tensors[0], exps[1].train.tensors[0]
    assert not torch.equal(a, b)
    # same digits, pixels permuted: the sorted pixel values of each image agree
    assert torch.equal(a.flatten(1).sort(1).values, b.flatten(1).sort(1).values)


def test_split_digits():
    exps = _build("split-digits").experiences()
    assert sum(len(e.train) for e in exps) == 1797 - 360
    assert exps[0].train.tensors[0].shape[1:] == (1, 8, 8)


def test_uneven_split_is_an_error():
    from clbench.errors import ClbenchError

    with pytest.raises(ClbenchError, match="must divide 10 classes"):
        _build("split-digits", "scenario.n_experiences=3")


def test_split_mnist_missing_data_names_path_and_setting(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        _build("split-mnist", f"data.root={tmp_path}")
    msg = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in msg and "data.download=true" in msg


def _write_idx(path, array):
    # the MNIST idx format: magic (0, 0, dtype 0x08, ndim), big-endian sizes, raw bytes
    with gzip.open(path, "wb") if str(path).endswith(".gz") else open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def test_split_mnist_reads_torchvision_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("t10k", 20)):
        _write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    exps = _build("split-mnist", f"data.root={tmp_path}").experiences()
    assert [len(e.train) for e in exps] == [8] * 5 and [len(e.test) for e in exps] == [4] * 5


@pytest.mark.parametrize("name", ["split-mnist-5k", "permuted-mnist-5k", "split-digits"])
def test_declared_input_shape_matches_the_stream(name):
    sc = _build(name)
    declared = SCENARIOS.get(name).meta["input_shape"]
    assert sc.input_shape == declared
    assert tuple(sc.experiences()[0].train.tensors[0].shape[1:]) == declared


def test_registry_kinds():
    kinds = {e.name: e.meta["kind"] for e in SCENARIOS}
    assert kinds["permuted-mnist-5k"] == "domain-il" and kinds["split-mnist-5k"] == "class-il"
