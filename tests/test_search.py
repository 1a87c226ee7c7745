"""Search spaces, seeded Sobol draws and validation-only selection (clbench/search.py,
clbench/tune.py), against hand-computed values; the studies end to end: tests/test_tune.py."""

import math

import pytest

from clbench.compose import compose
from clbench.errors import ClbenchError
from clbench.search import check_space, draw, parse_range, scale_value, sobol_points
from clbench.tune import default_variants, pick, plan_study, validation_score


def test_scales_map_the_unit_interval_by_hand():
    assert math.isclose(scale_value(0.5, 1e-3, 1e-1, "log"), 1e-2)  # the geometric middle
    assert scale_value(0.25, 0.0, 4.0, "linear") == 1.0
    # int: low..high each with a third of [0, 1)
    assert [scale_value(u, 1, 3, "int") for u in (0.0, 0.34, 0.5, 0.67, 0.999)] == [1, 2, 2, 3, 3]


def test_sobol_draws_are_seeded_balanced_and_recorded():
    a, b = sobol_points(1, 4, seed=7), sobol_points(1, 4, seed=7)
    assert a == b and a != sobol_points(1, 4, seed=8)
    # the first 2^m points of a Sobol sequence put one point in each interval of length 2^-m
    assert sorted(math.floor(4 * u[0]) for u in a) == [0, 1, 2, 3]
    space = {"train.lr": (1e-3, 0.3, "log"), "strategy.alpha": (0.0, 1.0, "linear")}
    trials = draw(space, 3, seed=0, study=1)
    assert trials == draw(space, 3, seed=0, study=1) != draw(space, 3, seed=0, study=0)
    for t in trials:  # keys in sorted order: strategy.alpha, then train.lr
        alpha_u, lr_u = t["u"]
        assert t["values"]["strategy.alpha"] == alpha_u
        assert math.isclose(
            math.log(t["values"]["train.lr"]), math.log(1e-3) + lr_u * math.log(300)
        )


def test_bad_spaces():
    assert check_space({"train.lr": [0.1, 1, "log"]}, "x") == {"train.lr": (0.1, 1.0, "log")}
    with pytest.raises(ClbenchError, match="needs low < high"):
        check_space({"train.lr": (0.0, 1.0, "log")}, "x")
    with pytest.raises(ClbenchError, match="must be \\(low, high, scale\\)"):
        check_space({"train.lr": 0.1}, "x")
    with pytest.raises(ClbenchError, match="the search space is empty"):
        check_space({}, "x")
    assert parse_range("train.lr=1e-4:1:log") == ("train.lr", (1e-4, 1.0, "log"))
    with pytest.raises(ClbenchError, match="expected key=low:high:scale"):
        parse_range("train.lr=1e-4")


def test_selection_reads_validation_accuracy_only():
    def rec(val, test):
        return {"validation": {"final_accuracy": val}, "metrics": {"final_accuracy": test}}

    recs = [rec(0.5, 0.9), rec(0.7, 0.1), None, rec(0.7, 0.99)]
    scores = [validation_score(r) for r in recs]
    assert scores == [0.5, 0.7, None, 0.7] and pick(scores) == 1  # tie: the earlier trial
    assert pick([None, None]) is None
    assert validation_score({"metrics": {"final_accuracy": 1.0}}) is None  # no validation data


def test_a_plan_takes_the_strategys_space_and_refuses_to_fix_a_tuned_key():
    plan = plan_study("teen", "fscil-mnist-5k", [], 4, 2, 0, 0.2, ["strategy.tau=2:8:linear"])
    assert plan["space"] == {
        "train.lr": [1e-3, 0.1, "log"],
        "strategy.alpha": [0.0, 1.0, "linear"],
        "strategy.tau": [2.0, 8.0, "linear"],
    }
    assert plan["budget"] == {"trials": 4, "studies": 2, "total": 8} and len(plan["draws"]) == 2
    with pytest.raises(ClbenchError, match="train.lr is tuned"):
        plan_study("finetune", "split-digits", ["train.lr=0.1"], 4, 2, 0, 0.2, [])
    with pytest.raises(ClbenchError, match="the search space is empty"):
        plan_study("nmc", "split-digits", [], 4, 2, 0, 0.2, [])


def test_default_held_out_variants():
    split = compose("finetune", "split-digits").scenario
    assert default_variants(split) == {
        "class-order": ["scenario.class_order_seed=1"],
        "experiences": ["scenario.n_experiences=10"],
    }
    fscil = compose("teen", "fscil-mnist-5k").scenario
    assert default_variants(fscil)["shot-seed"] == ["scenario.shot_seed=1"]
    permuted = compose("finetune", "permuted-mnist-5k", None, ["scenario.n_experiences=4"])
    assert default_variants(permuted.scenario) == {
        "experiences": ["scenario.n_experiences=2"],
        "permutation-seed": ["scenario.permutation_seed=1"],
    }
