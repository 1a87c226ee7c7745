"""LR schedules against hand-computed values at their phase boundaries, the per-step LR that the
strategies use, and the infinite schedule's anneal-for-evaluation in a real run."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import quick_cfg
from omegaconf import OmegaConf

from clbench.config import TrainConfig
from clbench.errors import ClbenchError
from clbench.schedules import (
    LRSchedule,
    cooldown,
    infinite_lr,
    lr_factor,
    plot,
    stream_lrs,
)


def _train(**kw):
    return OmegaConf.merge(OmegaConf.structured(TrainConfig), kw)


def test_infinite_formula_matches_the_cpu_check_of_the_notes():
    # schedules.md: T=1000, T_w=50, T_cd=500, T_ann=800, eta = 1, 0.75, 0.05
    want = {0: 0, 25: 0.5, 50: 1, 275: 0.875, 500: 0.75, 800: 0.75, 900: math.sqrt(0.75 * 0.05)}
    want[1000] = 0.05
    for t, v in want.items():
        assert infinite_lr(t, 1000, 50, 500, 800, 1.0, 0.75, 0.05) == pytest.approx(v), t
    # later tasks: no warmup or cooldown, constant until T_ann, then the same anneal
    assert infinite_lr(10, 1000, 50, 500, 800, 1.0, 0.75, 0.05, first=False) == 0.75
    assert infinite_lr(1000, 1000, 50, 500, 800, 1.0, 0.75, 0.05, first=False) == pytest.approx(
        0.05
    )


def test_cooldown_variants_hit_both_ends():
    for shape in ("cosine", "linear", "inv-sqrt"):
        assert cooldown(0, 0, 10, 1.0, 0.75, shape) == pytest.approx(1.0)
        assert cooldown(10, 0, 10, 1.0, 0.75, shape) == pytest.approx(0.75)
    assert cooldown(5, 0, 10, 1.0, 0.5, "linear") == pytest.approx(0.75)
    # inverse-sqrt drops fast first: g(0.5)/g(1) = (6^-.5 - 1) / (11^-.5 - 1)
    g = (6**-0.5 - 1) / (11**-0.5 - 1)
    assert cooldown(5, 0, 10, 1.0, 0.5, "inv-sqrt") == pytest.approx(1.0 - 0.5 * g)


def test_infinite_over_a_stream_of_two_experiences():
    t = _train(  # the notes' CPU check's values; warmup 5% and T_ann 80% are the defaults
        schedule="infinite",
        infinite_cooldown_end=0.5,
        infinite_constant_ratio=0.75,
        min_lr_ratio=0.05,
    )
    plan = [1000, 500]
    first = {25: 0.5, 50: 1.0, 275: 0.875, 500: 0.75, 800: 0.75, 1000: 0.05}
    for s, v in first.items():
        assert lr_factor(t, plan, 0, s) == pytest.approx(v), s
    assert lr_factor(t, plan, 0, 900) == pytest.approx(math.sqrt(0.75 * 0.05))
    # the second experience starts at eta_c (no re-warm), anneals over its last 20%
    second = {1: 0.75, 400: 0.75, 450: math.sqrt(0.75 * 0.05), 500: 0.05}
    for s, v in second.items():
        assert lr_factor(t, plan, 1, s) == pytest.approx(v), s


def test_infinite_defaults_are_the_authors_code():
    # Pauljanson002/MAE-1 config.py defaults: warmup 5%, cooldown end 30%, eta_c 0.25,
    # constant end 80%, eta_min 0.01 (schedules.md); T = 1000: T_w 50, T_cd 300, T_ann 800
    t = _train(schedule="infinite")
    assert (t.infinite_cooldown_end, t.infinite_constant_ratio, t.min_lr_ratio) == (0.3, 0.25, 0.01)
    plan = [1000]
    # midway through the cooldown (t = 175): 0.25 + 0.375 * (1 + cos(pi / 2)) = 0.625
    want = {50: 1.0, 175: 0.625, 300: 0.25, 800: 0.25, 900: math.sqrt(0.25 * 0.01), 1000: 0.01}
    for s, v in want.items():
        assert lr_factor(t, plan, 0, s) == pytest.approx(v), s


def test_repeated_cosine_rewarms_each_experience():
    t = _train(schedule="repeated-cosine", warmup_steps=5, min_lr_ratio=0.1)
    plan = [105, 105]
    assert lr_factor(t, plan, 0, 1) == pytest.approx(0.2)  # from 0
    assert lr_factor(t, plan, 0, 5) == pytest.approx(1.0)
    assert lr_factor(t, plan, 0, 55) == pytest.approx(0.55)  # cosine midpoint
    assert lr_factor(t, plan, 0, 105) == pytest.approx(0.1)
    assert lr_factor(t, plan, 1, 1) == pytest.approx(0.1 + 0.9 / 5)  # re-warm from eta_min
    assert lr_factor(t, plan, 1, 5) == pytest.approx(1.0)
    assert lr_factor(t, plan, 1, 105) == pytest.approx(0.1)


def test_cosine_decays_once_over_the_stream():
    t = _train(schedule="cosine", warmup_fraction=0.0, min_lr_ratio=0.1)
    plan = [50, 50]
    assert lr_factor(t, plan, 0, 50) == pytest.approx(0.55)  # halfway through the stream
    assert lr_factor(t, plan, 1, 50) == pytest.approx(0.1)
    t = _train(schedule="cosine", min_lr_ratio=0.1)  # default warmup: 5% of 200 = 10 steps
    assert lr_factor(t, [100, 100], 0, 5) == pytest.approx(0.5)
    assert lr_factor(t, [100, 100], 0, 10) == pytest.approx(1.0)
    assert lr_factor(t, [100, 100], 1, 5) == pytest.approx(
        0.1 + 0.45 * (1 + math.cos(math.pi * 0.5))
    )


def test_step_and_constant():
    t = _train(schedule="step", step_milestones=[0.5, 0.75], step_gamma=0.1)
    plan = [100, 100]
    assert lr_factor(t, plan, 0, 100) == 1.0
    assert lr_factor(t, plan, 1, 1) == pytest.approx(0.1)
    assert lr_factor(t, plan, 1, 50) == pytest.approx(0.1)
    assert lr_factor(t, plan, 1, 51) == pytest.approx(0.01)
    c = _train(warmup_steps=10)
    assert lr_factor(c, plan, 0, 5) == 0.5 and lr_factor(c, plan, 1, 5) == 1.0
    assert lr_factor(_train(), plan, 1, 7) == 1.0


def test_steps_beyond_the_plan_keep_the_last_value():
    t = _train(schedule="repeated-cosine", min_lr_ratio=0.1)
    assert lr_factor(t, [20], 0, 500) == pytest.approx(0.1)


def test_apply_gives_the_formula_per_optimizer_step_and_group():
    train = _train(schedule="repeated-cosine", warmup_steps=2, lr=0.5, min_lr_ratio=0.1)
    sch = LRSchedule(train)
    sch.plan, sch.experience = [6, 6], 1
    p, q = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p]}, {"params": [q], "lr": 0.05}], lr=0.5)
    for g in opt.param_groups:
        g["initial_lr"] = g["lr"]
    seen, other = [], []
    for s in range(1, 7):
        sch.apply(opt.param_groups, s)
        seen.append(opt.param_groups[0]["lr"])
        other.append(opt.param_groups[1]["lr"])
        opt.step()
    assert seen == pytest.approx(stream_lrs(train, [6, 6])[1])
    assert other == pytest.approx([v / 10 for v in seen])  # each group its own LR


@pytest.mark.parametrize(
    "override",
    [
        "train.schedule=linear",
        "train.infinite_cooldown=exp",
        "train.infinite_anneal_start=0.2",
        "train.min_lr_ratio=0",
        "train.warmup_fraction=2",
    ],
)
def test_bad_schedule_settings_are_one_line_errors(override, tmp_path):
    from clbench.runner import run

    with pytest.raises(ClbenchError, match="train\\."):
        run(quick_cfg("finetune", "split-digits", tmp_path, override))


def test_plot_schedule_writes_a_png(tmp_path):
    from clbench.cli import main

    out = tmp_path / "lr.png"
    assert main(["plot-schedule", "--steps", "100,60,80", "--out", str(out), "train.lr=0.1"]) == 0
    assert out.stat().st_size > 1000 and out.read_bytes()[:4] == b"\x89PNG"
    p = plot(_train(), [10, 10], ["infinite", "cosine"], tmp_path / "b.png")
    assert p.exists()
    assert main(["plot-schedule", "--schedule", "nope"]) == 2
    assert main(["plot-schedule", "seed=1"]) == 2


def test_infinite_evaluates_the_annealed_copy_and_continues_from_t_ann(tmp_path, monkeypatch):
    """In a real run: the next experience starts from the weights saved at T_ann of the last
    one, not from the annealed weights that were evaluated; the plan matches the steps taken."""
    from clbench import runner
    from clbench.schedules import AnnealForEvaluation

    evaluated, saved, starts, steps, plans = [], [], [], [], []
    real_eval, real_start = runner.evaluate, AnnealForEvaluation.on_train_start

    def spy_eval(model, *a, **kw):
        evaluated.append(model.head.weight.detach().cpu().clone())
        saved.append(model.lr_schedule.saved["head.weight"].clone())
        steps.append(model.trainer.global_step)
        plans.append(model.lr_schedule.plan)
        return real_eval(model, *a, **kw)

    def spy_start(self, trainer, pl_module):
        real_start(self, trainer, pl_module)
        starts.append(pl_module.head.weight.detach().cpu().clone())

    monkeypatch.setattr(runner, "evaluate", spy_eval)
    monkeypatch.setattr(AnnealForEvaluation, "on_train_start", spy_start)
    cfg = quick_cfg(
        "finetune",
        "split-digits",
        tmp_path,
        "train.schedule=infinite",
        "train.epochs=2",
        "scenario.n_experiences=5",
    )
    rec = runner.run(cfg).record
    assert len(rec["accuracy_matrix"]) == 5
    for k in (1, 2, 3, 4):
        assert torch.equal(starts[k], saved[k - 1])  # continued from T_ann of experience k-1
        assert not torch.equal(starts[k], evaluated[k - 1])  # not from the evaluated copy
    # the plan the schedule used is the number of optimizer steps each experience took
    per_exp = [b - a for a, b in zip([0, *steps[:-1]], steps, strict=True)]
    assert per_exp == plans[0] and all(n > 0 for n in per_exp)


def test_infinite_run_resumes_to_the_same_record(tmp_path, monkeypatch):
    from clbench import checkpoint, runner
    from clbench.errors import RunInterrupted

    args = ("train.schedule=infinite", "train.epochs=2", "scenario.n_experiences=2", "seed=3")
    whole = runner.run(quick_cfg("finetune", "split-digits", tmp_path / "a", *args)).record

    real_eval, calls = runner.evaluate, []

    def stop_at_second(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_eval(*a, **kw)

    monkeypatch.setattr(runner, "evaluate", stop_at_second)
    cfg = quick_cfg("finetune", "split-digits", tmp_path / "b", *args)
    with pytest.raises(RunInterrupted) as stopped:
        runner.run(cfg)
    monkeypatch.setattr(runner, "evaluate", real_eval)
    state = checkpoint.load(stopped.value.run_dir)  # holds experience 1's T_ann weights
    assert state["model"]["lr_schedule._extra_state"]["saved_at"] == 0
    resumed = runner.run(cfg, resume=stopped.value.run_dir).record
    assert resumed["accuracy_matrix"] == whole["accuracy_matrix"]


def test_each_schedule_completes_a_run_and_writes_a_record(tmp_path):
    from clbench.runner import run

    for schedule in ("infinite", "repeated-cosine", "cosine"):
        cfg = quick_cfg(
            "finetune",
            "split-digits",
            tmp_path,
            f"train.schedule={schedule}",
            "train.epochs=1",
            "scenario.n_experiences=2",
        )
        result = run(cfg)
        assert result.path is not None and result.path.exists()
        assert result.record["config"]["train"]["schedule"] == schedule
        assert len(result.record["accuracy_matrix"]) == 2


def test_leaderboard_keeps_schedules_apart():
    from clbench.leaderboard import runs_frame

    def rec(schedule):
        config = {"train": {"schedule": schedule}} if schedule else {}
        return {"scenario": "s", "strategy": "finetune", "seed": 0, "config": config}

    recs = [rec("infinite"), rec("constant"), rec(None)]
    for r in recs:
        r.update(metrics={}, costs={})
    labels = runs_frame(recs)["strategy"].tolist()
    assert labels[0] == "finetune [infinite]"
    # a record without the key is another experiment than one that sets it (the leaderboard
    # cannot know an older record's default): separate rows, labelled by the key
    assert labels[1:] == [
        'finetune {train.schedule="constant"}',
        "finetune {train.schedule=<absent>}",
    ]
