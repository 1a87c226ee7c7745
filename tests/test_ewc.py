"""Online EWC: the Fisher diagonal and the penalty against hand-computed values on a tiny
linear model, the online accumulation F <- decay * F + F_new, and the slow behaviour test."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import quick_cfg
from torch import nn
from torch.utils.data import TensorDataset

from strategies.ewc import EWC
from strategies.penalties import Anchors, estimate_fisher


def _zero_linear() -> nn.Linear:
    model = nn.Linear(1, 2, bias=False)  # logits (w0 x, w1 x)
    with torch.no_grad():
        model.weight.zero_()
    return model


def test_fisher_is_the_mean_per_sample_squared_gradient_by_hand():
    # w = 0: p = (1/2, 1/2); d CE / d w_k = (p_k - [k = y]) x, so each squared gradient is
    # x^2 / 4 in both rows: samples x = 1 (y = 0) and x = 2 (y = 1) give (1/4 + 4/4) / 2.
    model = _zero_linear()
    x, y = torch.tensor([[1.0], [2.0]]), torch.tensor([0, 1])
    for bs in (1, 2):
        (fisher,) = estimate_fisher(model, ["weight"], F.cross_entropy, x, y, bs, x.device)
        assert fisher.flatten().tolist() == pytest.approx([0.625, 0.625])
    # Not Avalanche's estimate: the squared gradient of the batch-mean loss. Row 0's mean
    # gradient is (-1/2 * 1 + 1/2 * 2) / 2 = 1/4, squared 1/16.
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    assert model.weight.grad.pow(2).flatten().tolist() == pytest.approx([0.0625, 0.0625])


def test_online_accumulation_decays_the_old_fisher_and_moves_the_anchor():
    w = torch.zeros(2)
    anchors = Anchors([w])
    anchors.consolidate([torch.tensor([1.0, 2.0])], [torch.tensor([4.0, 8.0])], decay=0.5)
    assert anchors.fishers()[0].tolist() == [4.0, 8.0]  # 0.5 * 0 + F_1
    assert anchors.anchors()[0].tolist() == [1.0, 2.0]
    anchors.consolidate([torch.tensor([3.0, 0.0])], [torch.tensor([1.0, 2.0])], decay=0.5)
    assert anchors.fishers()[0].tolist() == [3.0, 6.0]  # 0.5 * (4, 8) + (1, 2)
    assert anchors.anchors()[0].tolist() == [3.0, 0.0]
    # sum F (theta - theta*)^2 at theta = (4, 1): 3 * 1 + 6 * 1 = 9
    assert anchors.penalty([torch.tensor([4.0, 1.0])]).item() == pytest.approx(9.0)


def _model(tmp_path, *over):
    from clbench.stream import Experience, Scenario

    torch.manual_seed(0)
    cfg = quick_cfg("ewc", "split-digits", tmp_path, "backbone.num_layers=0", *over)
    model = EWC(cfg, Scenario("toy", 2, (1, 1, 1), [0, 1], None))

    def exp(i, x, y):
        data = TensorDataset(torch.tensor(x).view(-1, 1, 1, 1), torch.tensor(y))
        return Experience(i, [0, 1], data, data)

    return model, [exp(0, [1.0, 2.0], [0, 1]), exp(1, [-1.0, 3.0], [1, 1])]


def test_strategy_accumulates_fishers_with_decay_and_adds_half_lambda_penalty(tmp_path):
    model, exps = _model(tmp_path, "strategy.ewc_lambda=4.0", "strategy.decay=0.5")
    assert model._names == ["head.weight", "head.bias"]  # no hidden layer: a linear model
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    model.stream = exps
    model.start_experience(0)
    x, y = exps[0].train.tensors
    assert model.loss(x, y).item() == pytest.approx(F.cross_entropy(model(x), y).item())
    model.after_experience(exps[0])  # at w = 0, b = 0: the hand value above
    f_w, f_b = model.ewc.fishers()
    assert f_w.flatten().tolist() == pytest.approx([0.625, 0.625])
    assert f_b.tolist() == pytest.approx([0.25, 0.25])  # (p_k - [k = y])^2 = 1/4 always
    # second experience at w = 0 again: x = -1, 3 with y = 1, 1 give squared gradients
    # x^2 / 4 (mean 10 / 8) for w and 1/4 for b; F = 0.5 * F_1 + F_2
    model.start_experience(1)
    model.after_experience(exps[1])
    f_w, f_b = model.ewc.fishers()
    assert f_w.flatten().tolist() == pytest.approx([0.3125 + 1.25] * 2)
    assert f_b.tolist() == pytest.approx([0.375, 0.375])
    # penalty: lambda / 2 * sum F (theta - theta*)^2 with theta - theta* = 1 everywhere
    with torch.no_grad():
        model.head.weight.add_(1.0)
        model.head.bias.add_(1.0)
    x, y = exps[1].train.tensors
    want = F.cross_entropy(model(x), y) + 0.5 * 4.0 * (2 * 1.5625 + 2 * 0.375)
    assert model.loss(x, y).item() == pytest.approx(want.item(), rel=1e-6)
    assert int(model.consolidated) == 2 and "ewc.fisher.p0" in model.state_dict()


@pytest.mark.parametrize(
    "over", [["strategy.ewc_lambda=-1"], ["strategy.decay=1.5"], ["strategy.fisher_samples=0"]]
)
def test_bad_settings_are_one_line_errors(tmp_path, over):
    from clbench.errors import ClbenchError

    with pytest.raises(ClbenchError, match="strategy"):
        _model(tmp_path, *over)


@pytest.mark.heavy
def test_ewc_forgets_less_than_finetune_on_permuted_digits(tmp_path):
    """The papers' claim in small: the Fisher-weighted anchor keeps more of the earlier
    permutations than plain finetuning (domain-incremental permuted MNIST digits)."""
    from clbench.runner import run

    def metrics(strategy):
        cfg = quick_cfg(
            strategy,
            "permuted-mnist-5k",
            tmp_path / strategy,
            "seed=0",
            "scenario.n_experiences=3",
            "train.epochs=2",
        )
        return run(cfg).record["metrics"]

    ewc, finetune = metrics("ewc"), metrics("finetune")
    assert ewc["final_accuracy"] > finetune["final_accuracy"] + 0.02
    assert ewc["forgetting"] < finetune["forgetting"] / 2
