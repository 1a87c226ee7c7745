"""ER-ACE: the masked cross-entropy against hand-computed values, the masks of a training
step (present classes for the incoming rows, seen classes for the replayed ones), the buffer
taking each experience before training on it, and the slow behaviour test."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import quick_cfg
from torch.utils.data import TensorDataset

from strategies.er_ace import ERACE, ace_keep, masked_cross_entropy


def test_masked_cross_entropy_hand_values():
    logits = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    y = torch.tensor([1, 0])
    keep = torch.tensor([[True, True, False], [True, True, True]])
    # row 0 over classes {0, 1}: -log(e^2 / (e + e^2)) = log(1 + e^-1)
    # row 1 over all: -log(e / (e + e^2 + e^3)) = log(1 + e + e^2)
    want = (math.log(1 + math.exp(-1)) + math.log(1 + math.e + math.e**2)) / 2
    assert masked_cross_entropy(logits, y, keep).item() == pytest.approx(want, rel=1e-6)
    # a row with its label as the only kept class costs nothing, whatever the other logits
    one = torch.tensor([[False, False, True]])
    assert masked_cross_entropy(logits[:1], torch.tensor([2]), one).item() == 0.0
    # a mask of one row is broadcast to every row
    assert masked_cross_entropy(logits, y, torch.tensor([True, True, True])).item() == (
        pytest.approx(F.cross_entropy(logits, y).item())
    )


def test_masked_logits_get_no_gradient():
    logits = torch.tensor([[0.0, 1.0, 5.0]], requires_grad=True)
    masked_cross_entropy(logits, torch.tensor([0]), torch.tensor([True, True, False])).backward()
    p0 = 1 / (1 + math.e)
    assert logits.grad[0].tolist() == pytest.approx([p0 - 1, 1 - p0, 0.0])


def test_ace_keep_rows():
    present = torch.tensor([False, False, True, False])
    seen = torch.tensor([True, True, True, False])
    keep = ace_keep(present, seen, 2, 3)
    assert keep.tolist() == [present.tolist()] * 2 + [seen.tolist()] * 3


def _model(tmp_path):
    from clbench.stream import Experience, Scenario

    torch.manual_seed(0)
    cfg = quick_cfg("er-ace", "split-digits", tmp_path, "strategy.buffer_size=8")
    model = ERACE(cfg, Scenario("toy", 6, (1, 2, 2), list(range(6)), None))

    def exp(i):
        y = torch.tensor([2 * i, 2 * i + 1]).repeat(4)
        data = TensorDataset(torch.randn(8, 1, 2, 2), y)
        return Experience(i, [2 * i, 2 * i + 1], data, data)

    model.stream = [exp(i) for i in range(3)]
    return model, model.stream


def test_first_experience_is_plain_cross_entropy_without_replay(tmp_path):
    model, exps = _model(tmp_path)
    model.start_experience(0)
    model.before_experience(exps[0])
    assert len(model.buffer) == 8 and model.buffer.n_seen == 8  # exp 0 is in before training
    x, y = exps[0].train.tensors
    assert model.loss(x, y).item() == pytest.approx(F.cross_entropy(model(x), y).item())
    model.after_experience(exps[0])
    assert model.buffer.n_seen == 8  # added once


def test_later_step_masks_incoming_to_present_and_replayed_to_seen_classes(tmp_path):
    model, exps = _model(tmp_path)
    for e in exps[:2]:
        model.start_experience(e.index)
        model.before_experience(e)
    assert model.seen_classes() == [0, 1, 2, 3]
    x, y = exps[1].train.tensors[0][:3], torch.tensor([2, 2, 2])
    got = model.loss(x, y)
    model.start_experience(1)  # the same replay draw again
    xj, yj = model.with_replayed(x, y)
    assert len(yj) == 3 + 32 and set(yj[3:].tolist()) <= {0, 1, 2, 3}
    logits = model(xj)
    # incoming rows: class 2 alone is present, so they cost exactly 0; replayed rows: the
    # cross-entropy over classes 0-3 (4 and 5 are not seen yet), averaged over all 35 rows
    replayed = F.cross_entropy(logits[3:, :4], yj[3:], reduction="sum")
    assert got.item() == pytest.approx(replayed.item() / 35, rel=1e-6)


def test_online_buffer_takes_each_batch_after_its_step(tmp_path):
    from types import SimpleNamespace

    model, exps = _model(tmp_path)
    model.protocol = SimpleNamespace(online=True)
    model.start_experience(0)
    model.before_experience(exps[0])
    assert len(model.buffer) == 0  # nothing streamed yet
    x, y = exps[0].train.tensors
    model.loss(x[:3], y[:3])
    assert model.buffer.n_seen == 3 and torch.equal(model.buffer.x[:3], x[:3])
    model.start_experience(1)
    model.before_experience(exps[1])
    assert model.buffer.n_seen == 3  # no look-ahead: the next experience is not added


def test_fifo_sets_buffer_is_refused(tmp_path):
    from clbench.errors import ClbenchError
    from clbench.stream import Scenario

    cfg = quick_cfg("er-ace", "split-digits", tmp_path, "strategy.buffer_policy=fifo-sets")
    with pytest.raises(ClbenchError, match="buffer_policy=reservoir"):
        ERACE(cfg, Scenario("toy", 6, (1, 2, 2), list(range(6)), None))


@pytest.mark.heavy
def test_er_ace_beats_finetune_and_forgets_less_than_replay_on_split_mnist_5k(tmp_path):
    """The paper's claim in small: shielding the old classes from the incoming batch's
    cross-entropy keeps far more than finetuning and forgets less than plain replay
    (class-incremental split MNIST digits, the same buffer and replay batches)."""
    from clbench.runner import run

    def metrics(strategy):
        cfg = quick_cfg(strategy, "split-mnist-5k", tmp_path / strategy, "seed=0")
        return run(cfg).record["metrics"]

    ace, replay, finetune = metrics("er-ace"), metrics("replay"), metrics("finetune")
    assert ace["final_accuracy"] > finetune["final_accuracy"] + 0.4
    assert ace["forgetting"] < replay["forgetting"] - 0.03
