"""The fscil-mnist-5k scenario and the FSCIL leaderboard columns."""

import pytest
import torch

from clbench.compose import compose
from clbench.errors import ClbenchError
from clbench.leaderboard import render, runs_frame, summary_frame
from scenarios import SCENARIOS
from scenarios.fscil_mnist5k import FscilMnist5kParams, draw_shots, session_classes


def _build(*overrides):
    cfg = compose("nmc", "fscil-mnist-5k", None, list(overrides))
    return SCENARIOS.load("fscil-mnist-5k").build(cfg.scenario, cfg.data)


def test_fscil_mnist_5k_sessions():
    sc = _build()
    exps = sc.experiences()
    assert [e.classes for e in exps] == [[0, 1, 2, 3, 4, 5], [6], [7], [8], [9]]
    assert len(exps[0].train) == 2400  # every training digit of the base classes
    assert [len(e.train) for e in exps[1:]] == [5] * 4  # 1-way 5-shot
    assert [len(e.test) for e in exps] == [600, 100, 100, 100, 100]  # all test digits
    for e in exps:
        assert set(e.train.tensors[1].tolist()) == set(e.classes)
        assert set(e.test.tensors[1].tolist()) == set(e.classes)


def test_shots_depend_on_shot_seed_and_class_only():
    labels = torch.arange(100) % 10
    a = draw_shots(labels, 3, 5, shot_seed=0)
    assert len(a) == 5 and (labels[a] == 3).all()
    assert torch.equal(a, draw_shots(labels, 3, 5, shot_seed=0))  # the run seed plays no part
    assert not torch.equal(a, draw_shots(labels, 3, 5, shot_seed=1))


def test_ways_shots_and_order():
    sc = _build(
        "scenario.n_base_classes=4",
        "scenario.n_ways=2",
        "scenario.n_shots=3",
        "scenario.n_sessions=2",
        "scenario.class_order=[9,8,7,6,5,4,3,2,1,0]",
    )
    exps = sc.experiences()
    assert [e.classes for e in exps] == [[6, 7, 8, 9], [4, 5], [2, 3]]
    assert [len(e.train) for e in exps[1:]] == [6, 6]
    assert sum(len(e.test) for e in exps) == 800  # classes 0, 1 unused


def test_bad_session_settings_are_errors():
    params = FscilMnist5kParams(name="fscil-mnist-5k", n_sessions=5)
    with pytest.raises(ClbenchError, match="n_sessions"):
        session_classes(params, list(range(10)))
    with pytest.raises(ClbenchError, match="n_shots"):
        draw_shots(torch.arange(100) % 10, 3, 11, 0)


def _rec(strategy, seed, kind, scenario, **metrics):
    base = {"final_accuracy": 0.5, "average_incremental_accuracy": 0.6, "forgetting": 0.1}
    return {
        "strategy": strategy,
        "scenario": scenario,
        "kind": kind,
        "seed": seed,
        "metrics": {**base, "bwt": -0.1, **metrics},
        "costs": {"wall_time_s": 1.0, "train_samples_per_s": 10.0},
    }


FSCIL = dict(
    performance_drop=0.3,
    final_base_accuracy=0.8,
    final_novel_accuracy=0.4,
    final_harmonic_mean=0.5333,
)


def test_leaderboard_fscil_columns_only_for_fscil_scenarios():
    records = [
        _rec("nmc", 0, "fscil", "fs", **FSCIL),
        _rec("nmc", 1, "fscil", "fs", **{**FSCIL, "final_novel_accuracy": 0.6}),
        _rec("teen", 0, "fscil", "fs", **{**FSCIL, "final_novel_accuracy": None}),
        _rec("replay", 0, "class-il", "cil"),
    ]
    s = summary_frame(runs_frame(records)).set_index("strategy")
    assert s.loc["nmc", "final_novel_accuracy_mean"] == pytest.approx(0.5)
    md = render(records, "md")
    fs, cil = md.split("## fs (fscil)")[1], md.split("## cil (class-il)")[1].split("## fs")[0]
    assert "| PD " in fs and "final harmonic mean" in fs and "0.500 ± 0.141" in fs
    assert "–" in fs  # undefined novel accuracy
    assert "PD" not in cil and "novel" not in cil
