"""The tuned leaderboard's numbers from hand-made studies (clbench/tuned.py): accuracy over
studies x seeds, the drop on held-out variants, time to target with and without tuning cost."""

import math

from clbench.tuned import time_to_target, tuned_frame


def _rec(lr, acc, ttt=None, target=0.5):
    return {
        "config": {"train": {"lr": lr}},
        "metrics": {"final_accuracy": acc},
        "costs": {"time_to_target_s": ttt, "target_accuracy": target},
    }


def _study():
    picks = [
        {"values": {"train.lr": 0.1}, "tuning_wall_time_s": 100.0},
        {"values": {"train.lr": 0.01}, "tuning_wall_time_s": 50.0},
    ]
    final = [_rec(0.1, 0.8, 10.0), _rec(0.1, 0.6, 30.0), _rec(0.01, 0.7, None), _rec(0.5, 0.1)]
    return {
        "name": "s",
        "scenario": "split-digits",
        "strategy": "finetune",
        "budget": {"trials": 4, "studies": 2, "total": 8},
        "picks": picks,
        "final": final,
        "heldout": {"class-order": [_rec(0.1, 0.5), _rec(0.01, 0.4)]},
    }


def test_tuned_row_by_hand():
    row = tuned_frame([_study()]).iloc[0]
    assert row["budget"] == "4 trials x 2 studies" and row["runs"] == 3  # lr=0.5 was no pick
    assert math.isclose(row["accuracy"], 0.7) and math.isclose(
        row["accuracy_std"], math.sqrt(2 / 300)
    )
    assert math.isclose(row["held-out class-order"], 0.45)
    assert math.isclose(row["drop class-order"], 0.25)
    assert row["picks"] == "lr=0.1; lr=0.01"


def test_time_to_target_counts_tuning_when_asked():
    # pick 1: median(10, 30) = 20; pick 2: never reached (inf); median over studies: inf
    assert time_to_target(_study(), False) == math.inf
    s = _study()
    s["final"][2]["costs"]["time_to_target_s"] = 4.0  # now pick 2 reaches it in 4 s
    assert time_to_target(s, False) == 12.0  # median(20, 4)
    assert time_to_target(s, True) == 87.0  # median(20 + 100, 4 + 50)
    s["final"] = [
        {**r, "costs": {"time_to_target_s": None, "target_accuracy": None}} for r in s["final"]
    ]
    assert math.isnan(time_to_target(s, True))  # no target: not timed
