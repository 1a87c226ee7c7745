"""The strategy contract: one step plan, the LR of every optimizer step, and the optimizer's
state across experiences (kept or reset), through the real runner.

Every trainable strategy runs under every schedule on a small stream with large batches (a
few steps per experience); at each optimizer step the LR applied to every param group must be
the group's own LR times the schedule's formula at that position of the plan, and the steps
actually taken per experience must equal the plan the schedule was computed from.
"""

from __future__ import annotations

import pytest
import torch
from conftest import quick_cfg

from clbench.runner import run
from clbench.schedules import SCHEDULES, lr_factor
from strategies.base import Strategy

TWO_DOMAINS = "scenario.corruptions=[gaussian_noise,contrast]"
# (strategy, scenario, overrides): small streams, few steps, every phase of each strategy
CASES = {
    "finetune": ("split-digits", ["train.batch_size=128", "scenario.n_experiences=2"]),
    "joint": ("split-digits", ["train.batch_size=128", "scenario.n_experiences=2"]),
    "replay": ("split-digits", ["train.batch_size=128", "scenario.n_experiences=2"]),
    "powerlaw-replay": ("split-digits", ["train.batch_size=128", "scenario.n_experiences=2"]),
    "onpro": (
        "split-digits",
        [
            "scenario.online=true",
            "scenario.batch_size=64",
            "scenario.n_experiences=2",
            "strategy.ins_views=1",
        ],
    ),
    "teen": ("fscil-mnist-5k", ["train.batch_size=512", "scenario.n_sessions=2"]),
    "fscil-tricks": (
        "fscil-mnist-5k",
        [
            "train.batch_size=512",
            "scenario.n_sessions=2",
            "strategy.subnet=true",
            "strategy.subnet_epochs=2",
        ],
    ),
    "fast-slow": (
        "fscil-mnist-5k",
        [
            "train.batch_size=512",
            "scenario.n_sessions=2",
            "strategy.inc_epochs=2",
            "strategy.fisher_samples=20",
        ],
    ),
    # two of the seven domains: the plan spans experiences; more of them only cost time
    "tent": ("mnist-5k-c", ["train.batch_size=250", "train.epochs=1", TWO_DOMAINS]),
    "vdp": (
        "mnist-5k-c",
        ["train.batch_size=250", "train.epochs=1", "strategy.n_augmentations=0", TWO_DOMAINS],
    ),
}
TRAINABLE = sorted(CASES)


def _record_steps(monkeypatch) -> list[tuple[int | None, int, list[float], list[float]]]:
    """Patch the base step to log (experience, step in fit, lr and initial lr per group)."""
    log: list[tuple[int | None, int, list[float], list[float]]] = []
    original = Strategy.training_step

    def step(self, batch, batch_idx):
        out = original(self, batch, batch_idx)
        groups = self.optimizers().param_groups
        log.append(
            (
                self.experience_index,
                self._step_in_fit,
                [g["lr"] for g in groups],
                [g["initial_lr"] for g in groups],
            )
        )
        return out

    monkeypatch.setattr(Strategy, "training_step", step)
    return log


def _models(monkeypatch) -> list[Strategy]:
    made: list[Strategy] = []
    original = Strategy.plan_stream

    def plan(self, experiences, protocol):
        made.append(self)
        return original(self, experiences, protocol)

    monkeypatch.setattr(Strategy, "plan_stream", plan)
    return made


# the edit loop's tier runs a few of the grid; the whole grid runs in the full suite (CI)
FAST = {("finetune", s) for s in SCHEDULES} | {("joint", "cosine"), ("replay", "infinite")}
GRID = [
    pytest.param(st, sc, marks=() if (st, sc) in FAST else pytest.mark.slow, id=f"{st}-{sc}")
    for st in TRAINABLE
    for sc in SCHEDULES
]


@pytest.mark.parametrize(("strategy", "schedule"), GRID)
def test_every_step_follows_the_schedule_and_the_plan(strategy, schedule, tmp_path, monkeypatch):
    scenario, overrides = CASES[strategy]
    log = _record_steps(monkeypatch)
    models = _models(monkeypatch)
    cfg = quick_cfg(strategy, scenario, tmp_path, f"train.schedule={schedule}", *overrides)
    run(cfg)
    (model,) = models
    plan = model.lr_schedule.plan
    in_stream = [e for e in log if e[0] is not None]  # CTTA's source phase has no schedule
    assert sum(plan) > 0 and len(in_stream) == sum(plan)
    taken = [sum(1 for e in in_stream if e[0] == k) for k in range(len(plan))]
    assert taken == plan == model.steps_taken
    for k, s, lrs, initial in in_stream:
        factor = lr_factor(model.lr_schedule.train_cfg, plan, k, s)
        assert lrs == pytest.approx([i * factor for i in initial], rel=1e-12, abs=0), (k, s)
    if schedule == "cosine":  # a schedule that really changes the LR (onpro's used to drop it)
        assert len({e[2][0] for e in in_stream}) > 2


def _adam_steps(model: Strategy) -> int:
    state = model._optimizers.optimizer.state
    return int(next(iter(state.values()))["step"])


@pytest.mark.parametrize("mode", ["keep", "reset"])
def test_optimizer_state_is_kept_or_reset_between_experiences(mode, tmp_path, monkeypatch):
    models = _models(monkeypatch)
    steps_at_end: list[int] = []
    original = Strategy.after_experience

    def after(self, exp):
        steps_at_end.append(_adam_steps(self))
        return original(self, exp)

    monkeypatch.setattr(Strategy, "after_experience", after)
    cfg = quick_cfg(
        "finetune",
        "split-digits",
        tmp_path,
        "train.optimizer=adam",
        f"train.optimizer_state={mode}",
        "train.batch_size=128",
        "scenario.n_experiences=2",
    )
    run(cfg)
    plan = models[0].lr_schedule.plan
    want = [sum(plan[: k + 1]) for k in range(2)] if mode == "keep" else plan
    assert steps_at_end == want


def test_defaults_follow_the_reference_codes():
    from clbench.compose import compose

    for name, want in [("onpro", "keep"), ("tent", "keep"), ("vdp", "keep"), ("replay", "reset")]:
        scenario = "mnist-5k-c" if name in ("tent", "vdp") else "split-digits"
        assert compose(name, scenario).train.optimizer_state == want, name
    assert list(compose("onpro", "split-digits").train.betas) == [0.9, 0.99]


def test_kept_optimizer_state_survives_a_resume(tmp_path, monkeypatch):
    """A run stopped after experience 1 and resumed gives the same record as one that was not
    stopped: the Adam moments come back from the checkpoint."""
    from clbench.runner import run_dir_for

    args = [
        "train.optimizer=adam",
        "train.optimizer_state=keep",
        "train.batch_size=128",
        "scenario.n_experiences=2",
        "seed=3",
    ]
    whole = run(quick_cfg("finetune", "split-digits", tmp_path / "a", *args)).record

    cfg = quick_cfg("finetune", "split-digits", tmp_path / "b", *args)
    original = Strategy.before_experience

    def stop(self, exp):
        if exp.index == 1:
            raise KeyboardInterrupt
        return original(self, exp)

    monkeypatch.setattr(Strategy, "before_experience", stop)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    monkeypatch.setattr(Strategy, "before_experience", original)
    (run_dir,) = (tmp_path / "b" / "work" / "split-digits" / "finetune").iterdir()
    assert run_dir == run_dir_for(cfg, run_dir.name)
    resumed = run(cfg, resume=run_dir).record
    assert resumed["accuracy_matrix"] == whole["accuracy_matrix"]

    # and the resumed optimizer really is the saved one, not a fresh Adam
    saved = torch.load(run_dir / "state.pt", weights_only=True)["optimizer"]
    assert saved["state"]["state"][0]["step"] > 0
