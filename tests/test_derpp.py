"""DER++: the loss against hand-computed values (the pure function and a tiny linear model's
step), the logits stored at insertion time, resume state; slow: DDP exactness and the
paper's claim in small on real digits."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import quick_cfg
from torch import nn

from strategies.derpp import DERpp, derpp_loss


def test_derpp_loss_hand_value():
    # CE([0, 0], 0) = ln 2; MSE([1, 3], [0, 1]) = (1 + 4) / 2; CE([0, ln 3], 1) = ln(4 / 3)
    logits, y = torch.tensor([[0.0, 0.0]]), torch.tensor([0])
    mse_logits, stored = torch.tensor([[1.0, 3.0]]), torch.tensor([[0.0, 1.0]])
    ce_logits, ce_y = torch.tensor([[0.0, math.log(3.0)]]), torch.tensor([1])
    got = derpp_loss(logits, y, mse_logits, stored, ce_logits, ce_y, alpha=0.2, beta=1.0)
    assert got.item() == pytest.approx(math.log(2) + 0.2 * 2.5 + math.log(4 / 3), rel=1e-6)
    assert derpp_loss(logits, y).item() == pytest.approx(math.log(2), rel=1e-6)


def _tiny(tmp_path) -> DERpp:
    """DER++ whose network is logits = (x_0, x_1): a flatten and a fixed 4 -> 2 linear map."""
    from clbench.stream import Scenario

    cfg = quick_cfg("derpp", "split-digits", tmp_path, "strategy.replay_batch_size=2")
    model = DERpp(cfg, Scenario("toy", 2, (1, 2, 2), [0, 1], None))
    model.backbone, model.head = nn.Flatten(), nn.Linear(4, 2)
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]))
        model.head.bias.zero_()
    return model


def test_first_step_is_cross_entropy_and_stores_the_logits_of_that_moment(tmp_path):
    model = _tiny(tmp_path)
    x = torch.tensor([[1.0, 0, 0, 0], [0, 2.0, 0, 0]]).view(2, 1, 2, 2)
    y = torch.tensor([0, 1])
    # logits (1, 0) and (0, 2): CE = mean(ln(1 + e^-1), ln(1 + e^-2)); the buffer was empty
    want = (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(-2))) / 2
    assert model.loss(x, y).item() == pytest.approx(want, rel=1e-6)
    buf = model.buffer
    assert len(buf) == 2 and torch.equal(buf.y[:2], y) and torch.equal(buf.x[:2], x)
    stored = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert torch.equal(buf.extra["logits"][:2], stored)
    with torch.no_grad():
        model.head.weight.mul_(2.0)  # training moves on; the stored logits do not
    assert torch.equal(buf.extra["logits"][:2], stored)


def test_second_step_adds_logit_mse_and_label_ce_on_two_buffer_batches(tmp_path, monkeypatch):
    model = _tiny(tmp_path)
    x = torch.tensor([[1.0, 0, 0, 0], [0, 2.0, 0, 0]]).view(2, 1, 2, 2)
    model.loss(x, torch.tensor([0, 1]))  # stores logits (1, 0) and (0, 2)
    with torch.no_grad():
        model.head.weight.mul_(2.0)  # now (2, 0) and (0, 4)
    draws = iter([torch.tensor([0, 1]), torch.tensor([1, 1])])  # the MSE batch, the CE batch
    monkeypatch.setattr(model.buffer, "indices", lambda n, g: next(draws))
    got = model.loss(torch.zeros(1, 1, 2, 2), torch.tensor([0]))
    # CE on the stream: ln 2; MSE over (2,0),(0,4) vs (1,0),(0,2): (1 + 0 + 0 + 4) / 4;
    # CE of sample 1 twice, logits (0, 4), label 1: ln(1 + e^-4)
    want = math.log(2) + 0.2 * 1.25 + 1.0 * math.log(1 + math.exp(-4))
    assert got.item() == pytest.approx(want, rel=1e-6)
    assert len(model.buffer) == 3  # the zero sample went in with its logits (0, 0)
    assert torch.equal(model.buffer.extra["logits"][2], torch.zeros(2))


def test_buffer_with_logits_survives_the_state_dict(tmp_path):
    model = _tiny(tmp_path)
    model.loss(torch.randn(4, 1, 2, 2), torch.tensor([0, 1, 0, 1]))
    other = _tiny(tmp_path)
    other.load_state_dict(model.state_dict())
    a, b = model.buffer, other.buffer
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and a.n_seen == b.n_seen == 4
    assert torch.equal(a.extra["logits"], b.extra["logits"])


def test_bad_weights_are_config_errors(tmp_path):
    from clbench.errors import ClbenchError
    from clbench.stream import Scenario

    with pytest.raises(ClbenchError, match="alpha"):  # at compose (negative) or in DERpp
        cfg = quick_cfg("derpp", "split-digits", tmp_path, "strategy.alpha=-1")
        DERpp(cfg, Scenario("toy", 2, (1, 2, 2), [0, 1], None))


@pytest.mark.heavy  # DDP: 2 gloo processes, then a one-process run
def test_derpp_two_processes_match_one(tmp_path, monkeypatch, run_cli):
    import test_ddp

    base = ["--strategy", "derpp", "--scenario", "split-digits", "seed=2", "train.epochs=2"]
    monkeypatch.setattr(test_ddp, "ARGS", [*base, *test_ddp.ARGS[-2:]])
    ddp = test_ddp._run(run_cli, tmp_path / "ddp", "trainer.devices=2", "trainer.strategy=ddp")
    rec = json.loads(ddp[0].read_text())
    # the per-batch buffers (inputs, labels, logits) agreed across processes after every
    # experience; the numbers match one process up to float summation order
    assert rec["world_size"] == 2 and rec["ddp_state_checked"] is True
    ref = json.loads(test_ddp._run(run_cli, tmp_path / "one")[0].read_text())
    for a, b in zip(rec["accuracy_matrix"], ref["accuracy_matrix"], strict=True):
        assert a == pytest.approx(b, abs=0.02)


@pytest.mark.heavy
def test_derpp_keeps_up_with_replay_and_beats_finetune_on_split_mnist(tmp_path):
    """The paper's claim in small (Table 2, seq-MNIST): DER++ at least matches experience
    replay with the same buffer and forgets far less than finetuning (seeds 0-1)."""
    from clbench.runner import run

    def final(strategy: str, seed: int) -> float:
        cfg = quick_cfg(strategy, "split-mnist-5k", tmp_path / f"{strategy}{seed}", f"seed={seed}")
        return run(cfg).record["metrics"]["final_accuracy"]

    for seed in (0, 1):
        derpp, replay, finetune = (final(s, seed) for s in ("derpp", "replay", "finetune"))
        assert derpp >= replay - 0.01 and derpp > finetune + 0.3, (derpp, replay, finetune)
