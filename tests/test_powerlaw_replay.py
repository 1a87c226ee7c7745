"""Power-law rehearsal: the sampler's distribution, its lag bookkeeping, DDP-exactness, and
its behaviour on the real permuted digits."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from conftest import quick_cfg
from torch.utils.data import TensorDataset

from clbench.stream import Experience
from strategies.powerlaw_replay import PowerLawReplay, powerlaw_probs, sample_tasks, share


def test_probabilities_match_the_notes_example():
    # powerlaw.md: lags (10, 7, 4, 2, 1), alpha = 1
    p = powerlaw_probs(torch.tensor([10, 7, 4, 2, 1]), 1.0)
    assert p.tolist() == pytest.approx([0.050, 0.072, 0.125, 0.251, 0.502], abs=5e-4)
    assert float(p.sum()) == pytest.approx(1.0)
    assert powerlaw_probs(torch.tensor([9, 3, 1]), 0.0).tolist() == pytest.approx([1 / 3] * 3)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_log_log_slope_is_minus_alpha(alpha):
    lags = torch.tensor([1, 2, 3, 5, 8, 13, 21, 34])
    p = powerlaw_probs(lags, alpha)
    x, y = lags.double().log(), p.log()
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    assert float(slope) == pytest.approx(-alpha, abs=1e-9)


def test_empirical_frequencies_follow_the_power_law():
    from scipy.stats import chisquare

    lags = torch.tensor([10, 7, 4, 2, 1])
    p = powerlaw_probs(lags, 1.0)
    n = 200_000
    draws = sample_tasks(lags, 1.0, n, torch.Generator().manual_seed(0))
    counts = torch.bincount(draws, minlength=5).double()
    assert (counts / n - p).abs().max() < 0.005, counts / n
    assert chisquare(counts.numpy(), (p * n).numpy()).pvalue > 0.001
    # the same generator seed gives the same draws (what every DDP process relies on)
    again = sample_tasks(lags, 1.0, n, torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)


def test_share_splits_the_buffer_evenly():
    assert share(200, 3, 4000) == 66
    assert share(200, 1, 150) == 150
    assert share(None, 5, 4000) == 4000
    assert share(0, 2, 10) == 0


def _model(tmp_path, *overrides):
    cfg = quick_cfg(
        "powerlaw-replay",
        "permuted-mnist-5k",
        tmp_path,
        "backbone.hidden_dim=8",
        "train.batch_size=4",
        *overrides,
    )
    scenario = SimpleNamespace(input_shape=(1, 4, 4), num_classes=3, info={})
    return PowerLawReplay(cfg, scenario)


def _exp(index, n=30):
    g = torch.Generator().manual_seed(index)
    x = torch.randn(n, 1, 4, 4, generator=g)
    y = torch.randint(3, (n,), generator=g)
    return Experience(index, [0, 1, 2], TensorDataset(x, y), TensorDataset(x, y))


def _steps(model, exp, n_steps, world=1, rank=0):
    """Run the strategy's loss for `n_steps` steps; the inputs it scored and its choices."""
    model._trainer = SimpleNamespace(world_size=world, global_rank=rank)
    seen = []
    model.forward = lambda x: (seen.append(x.clone()), torch.zeros(len(x), 3))[1]
    model.before_experience(exp)
    x, y = exp.train.tensors
    for _ in range(n_steps):
        model.loss(x[:4], y[:4])
    return seen


def test_lags_reset_on_revisit_and_the_memory_is_split(tmp_path):
    model = _model(tmp_path, "strategy.buffer_size=20", "strategy.rehearsal_size=6")
    for k in range(3):
        _steps(model, _exp(k), 50)
        model.after_experience(_exp(k))
    assert [len(x) for x, _ in model.memory] == [6, 6, 6]  # 20 // 3
    assert model.clock == 150 and model.last_seen[2] == 150
    # experience 3: the revisited task's last_seen is the step it was drawn
    before = list(model.revisits)
    _steps(model, _exp(3), 1)
    (i,) = [j for j in range(3) if model.revisits[j] != before[j]]
    assert model.last_seen[i] == 151
    # the memory of a task is a prefix of what it kept before (nested subsets)
    x0 = model.memory[0][0]
    model.after_experience(_exp(3))
    assert torch.equal(model.memory[0][0], x0[:5])


def test_first_learned_lags_never_reset(tmp_path):
    model = _model(tmp_path, "strategy.lag_from=first-learned")
    for k in range(2):
        _steps(model, _exp(k), 10)
        model.after_experience(_exp(k))
    _steps(model, _exp(2), 40)
    assert model.last_seen == [10, 20] and sum(model.revisits) == 10 + 40


def test_recent_tasks_are_rehearsed_more(tmp_path):
    model = _model(tmp_path, "strategy.lag_from=first-learned", "strategy.alpha=2")
    for k in range(2):
        _steps(model, _exp(k), 100)
        model.after_experience(_exp(k))
    _steps(model, _exp(2), 400)
    # lags from 101..500 (task 1) vs 201..600 (task 0): task 1 is favoured
    assert model.revisits[1] > model.revisits[0] > 0


def test_two_processes_rehearse_the_slices_of_one_global_batch(tmp_path):
    """Same decisions and state on every process; the slices make up the 1-process batch."""
    models = [_model(tmp_path, "strategy.rehearsal_size=6") for _ in range(3)]
    for k in range(2):
        for m in models:
            _steps(m, _exp(k), 5)
            m.after_experience(_exp(k))
    one = _steps(models[0], _exp(2), 20)
    r0 = _steps(models[1], _exp(2), 20, world=2, rank=0)
    r1 = _steps(models[2], _exp(2), 20, world=2, rank=1)
    for a, b, c in zip(one, r0, r1, strict=True):
        reh, s0, s1 = a[4:], b[4:], c[4:]
        assert torch.equal(s0, reh[0::2]) and torch.equal(s1, reh[1::2])
    assert models[0].last_seen == models[1].last_seen == models[2].last_seen
    assert models[0].revisits == models[1].revisits


def test_state_round_trips(tmp_path):
    a = _model(tmp_path)
    for k in range(2):
        _steps(a, _exp(k), 7)
        a.after_experience(_exp(k))
    b = _model(tmp_path)
    b.load_state_dict(a.state_dict())
    assert b.clock == a.clock and b.last_seen == a.last_seen
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(a.memory, b.memory, strict=True))
    assert [len(t) for t in _steps(a, _exp(2), 3)] == [len(t) for t in _steps(b, _exp(2), 3)]


def test_bad_params(tmp_path):
    from clbench.errors import ClbenchError

    for bad in ("strategy.alpha=-1", "strategy.lag_from=never", "strategy.buffer_size=-2"):
        with pytest.raises(ClbenchError, match="strategy"):
            _model(tmp_path, bad)


@pytest.mark.slow  # behaviour: trains to compare forgetting
def test_powerlaw_replay_forgets_less_than_finetune_on_permuted_mnist(results_dir):
    from clbench.runner import run

    rec = {}
    for strategy in ("finetune", "powerlaw-replay"):
        rec[strategy] = run(
            quick_cfg(
                strategy,
                "permuted-mnist-5k",
                results_dir,
                "train.epochs=1",
                "scenario.n_experiences=3",
            )
        ).record["metrics"]
    assert rec["powerlaw-replay"]["forgetting"] < rec["finetune"]["forgetting"], rec
    assert rec["powerlaw-replay"]["final_accuracy"] > rec["finetune"]["final_accuracy"], rec
    assert not math.isnan(rec["powerlaw-replay"]["bwt"])
