"""fast-slow: consolidation, EWC penalty and Fisher against hand-computed values; the slow
weights change only at consolidation."""

import pytest
import torch
from conftest import toy_fscil
from torch import nn

from strategies.fast_slow import consolidate
from strategies.penalties import ewc_penalty, fisher_diag


def test_consolidate_hand_values():
    slow = [torch.tensor([0.0, 1.0]), torch.tensor([[2.0]])]
    fast = [torch.tensor([4.0, -1.0]), torch.tensor([[3.0]])]
    consolidate(slow, fast, 0.25)
    assert slow[0].tolist() == [1.0, 0.5]
    assert slow[1].tolist() == [[2.25]]
    consolidate(slow, fast, 0.0)  # beta = 0: no move
    assert slow[0].tolist() == [1.0, 0.5]
    consolidate(slow, fast, 1.0)  # beta = 1: a copy
    assert slow[0].tolist() == [4.0, -1.0] and slow[1].tolist() == [[3.0]]


def test_ewc_penalty_hand_value():
    p = [torch.tensor([1.0, 2.0]), torch.tensor([3.0])]
    a = [torch.tensor([0.0, 0.0]), torch.tensor([1.0])]
    f = [torch.tensor([2.0, 0.5]), torch.tensor([3.0])]
    # 2*1 + 0.5*4 + 3*4 = 16
    assert ewc_penalty(p, a, f).item() == pytest.approx(16.0)


def test_fisher_diag_per_sample_squared_gradients():
    # loss_i = (w x_i)^2 with w = 2: grad_i = 2 w x_i^2 = 4 and 36 for x = 1, 3.
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(2.0)

    def loss_fn(out, y):
        return ((out - y) ** 2).sum()

    x, y = torch.tensor([[1.0], [3.0]]), torch.zeros(2, 1)
    for bs in (1, 2):  # independent of the batch size
        sums, n = fisher_diag(model, ["weight"], loss_fn, x, y, bs)
        assert n == 2
        assert sums[0].item() == pytest.approx(16.0 + 1296.0)


def _toy(*over):
    return toy_fscil("fast-slow", *over)


def _sgd_steps(model, e, steps=3):
    opt = model.configure_optimizers()
    x, y = e.train.tensors
    for _ in range(steps):
        opt.zero_grad()
        model.loss(x, y).backward()
        opt.step()


def _slow(model):
    return [t.clone() for t in model.slow_params()]


def test_slow_weights_move_only_at_consolidation_by_beta():
    model, exps = _toy("strategy.beta=0.5")
    for e in exps:
        model.before_experience(e)
        slow0 = _slow(model)
        _sgd_steps(model, e)  # training touches only the fast weights
        assert all(torch.equal(a, b) for a, b in zip(slow0, _slow(model), strict=True))
        model.after_experience(e)
        fast = [p.detach() for p in model._fast_params]  # as consolidated (rows imprinted)
        beta = 1.0 if e.index == 0 else 0.5  # base_beta, then beta
        for s0, s1, f in zip(slow0, _slow(model), fast, strict=True):
            assert torch.allclose(s1, s0 + beta * (f - s0), atol=1e-6)
    assert model.ewc.fisher.p0.abs().sum() > 0  # step 1 has a Fisher to anchor with
    for a, p in zip(model.ewc.anchors(), model._fast_params, strict=True):
        assert torch.equal(a, p)  # ... and the anchor is the consolidated fast weights


def test_beta_one_keeps_slow_equal_to_fast_and_predicts_with_slow():
    model, exps = _toy("strategy.beta=1.0", "strategy.penalty=0")
    for e in exps:
        model.before_experience(e)
        _sgd_steps(model, e)
        model.after_experience(e)
        assert all(
            torch.allclose(s, f, atol=1e-6)
            for s, f in zip(model.slow_params(), model._fast_params, strict=True)
        )
    x = torch.cat([e.test.tensors[0] for e in exps])
    with torch.no_grad():
        assert torch.equal(model.predict(x), model(x).argmax(1))


def test_penalty_pulls_fast_weights_back():
    def drift(penalty):
        model, exps = _toy(f"strategy.penalty={penalty}", "strategy.inc_lr=0.01")
        model.before_experience(exps[0])
        _sgd_steps(model, exps[0], 5)
        model.after_experience(exps[0])
        model.before_experience(exps[1])
        start = [p.detach().clone() for p in model._fast_params]
        _sgd_steps(model, exps[1], 10)
        return sum(
            ((p - s) ** 2).sum().item() for p, s in zip(model._fast_params, start, strict=True)
        )

    d = {p: drift(p) for p in (0.0, 3.0)}
    assert d[3.0] < d[0.0], d


def test_state_dict_round_trip_resumes_mid_stream():
    """A fresh model loaded with the state after session 1 continues exactly like the
    uninterrupted one (fast and slow weights, Fisher, anchors, seen classes, session count)."""
    model, exps = _toy()
    for e in exps[:2]:
        model.before_experience(e)
        _sgd_steps(model, e, 2)
        model.after_experience(e)
    fresh, _ = _toy()
    fresh.load_state_dict(model.state_dict())
    fresh.restore(exps[:2])
    for m in (model, fresh):
        m.before_experience(exps[2])
        _sgd_steps(m, exps[2], 2)
        m.after_experience(exps[2])
    a, b = model.state_dict(), fresh.state_dict()
    assert a.keys() == b.keys() and all(
        torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a
    )
    x = torch.cat([e.test.tensors[0] for e in exps])
    assert torch.equal(model.predict(x), fresh.predict(x))
