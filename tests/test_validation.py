"""Validation streams: a fixed, seeded, per-class hold-out of each experience's training data,
scored like the test data; off, the stream and the record's numbers are unchanged."""

import pytest
import torch
from conftest import quick_cfg
from torch.utils.data import TensorDataset

from clbench.errors import ClbenchError
from clbench.runner import run
from clbench.stream import Experience
from clbench.sweep import run_key
from clbench.validation import hold_out, split_indices, validation_view


def _exp(i, y):
    y = torch.tensor(y)
    return Experience(
        i, sorted(set(y.tolist())), TensorDataset(torch.arange(len(y)).float().view(-1, 1), y), None
    )


def test_split_is_per_class_half_up_and_keeps_a_sample_of_every_class():
    y = torch.tensor([0, 0, 0, 0, 0, 1, 1, 2])
    tr, val = split_indices(y, 0.3, torch.Generator().manual_seed(0))
    # class 0: 0.3*5 = 1.5 -> 2 held; class 1: 0.6 -> 1, but 1 of 2 at most; class 2: 1 sample, kept
    assert y[val].tolist() == [0, 0, 1]
    assert sorted(tr.tolist() + val.tolist()) == list(range(8))
    _, val = split_indices(y, 0.1, torch.Generator().manual_seed(0))
    assert y[val].tolist() == [0]  # 0.1*5 = 0.5 rounds up: one of class 0, none of the others


def test_hold_out_is_fixed_by_its_seed_and_off_by_default():
    exps = [_exp(0, [0] * 10 + [1] * 10), _exp(1, [2] * 10 + [3] * 10)]
    assert hold_out(exps, None, None) is exps and hold_out(exps, 0.0, 5) is exps
    a, b, c = hold_out(exps, 0.2, None), hold_out(exps, 0.2, 0), hold_out(exps, 0.2, 1)
    assert [len(e.train) for e in a] == [16, 16] and [len(e.validation) for e in a] == [4, 4]
    assert all(
        torch.equal(x.validation.tensors[0], y.validation.tensors[0])
        for x, y in zip(a, b, strict=True)
    )
    assert not torch.equal(a[0].validation.tensors[0], c[0].validation.tensors[0])
    assert [e.test for e in validation_view(a)] == [e.validation for e in a]
    assert validation_view(exps) is None


def test_unlabelled_training_data_cannot_hold_out_validation():
    exp = Experience(0, [0], TensorDataset(torch.zeros(4, 1)), None)
    with pytest.raises(ClbenchError, match="no labels in its training data"):
        hold_out([exp], 0.2, None, "ctta-digits")


def test_run_key_leaves_out_unused_settings():
    cfg = {"scenario": {"name": "a", "validation_fraction": None}, "seed": 0}
    assert run_key(cfg) == run_key({"scenario": {"name": "a"}, "seed": 0})


def test_a_run_records_its_validation_stream_and_off_changes_nothing(tmp_path):
    common = ("train.epochs=1", "backbone.hidden_dim=16", "seed=1")
    plain = run(quick_cfg("finetune", "split-digits", tmp_path / "a", *common)).record
    zero = run(
        quick_cfg(
            "finetune", "split-digits", tmp_path / "b", *common, "scenario.validation_fraction=0"
        )
    ).record
    assert zero["accuracy_matrix"] == plain["accuracy_matrix"] and "validation" not in zero
    val = run(
        quick_cfg(
            "finetune", "split-digits", tmp_path / "c", *common, "scenario.validation_fraction=0.2"
        )
    ).record
    v = val["validation"]
    assert v["fraction"] == 0.2 and v["seed"] == 0 and len(v["accuracy_matrix"]) == 5
    assert v["final_accuracy"] == v["seen_accuracy"][-1] and 0 <= v["final_accuracy"] <= 1
    assert val["test_sizes"] == plain["test_sizes"]  # the test data are untouched
    # the training data shrink by the held-out samples
    assert val["costs"]["train_samples"] + sum(v["sizes"]) == plain["costs"]["train_samples"]
