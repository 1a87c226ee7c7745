"""Performance profiles (AlgoPerf) and the leaderboard's cost view, on hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest
from test_leaderboard import _rec

from clbench import profiles
from clbench.leaderboard import (
    cost_frame,
    profile_applies,
    profile_summary,
    profile_times,
    render,
    runs_frame,
)

INF = math.inf


def _times() -> pd.DataFrame:
    # rows: strategies; columns: scenarios. NaN: not run there.
    return pd.DataFrame(
        {"s1": [10.0, 20.0, 50.0], "s2": [3.0, INF, 6.0], "s3": [INF, INF, INF]},
        index=["x", "y", "z"],
    )


def test_ratios_against_the_fastest_with_the_cap():
    r = profiles.ratios(_times())
    # s1: 10/10, 20/10, 50/10 = 5 > 4 -> inf; s2: 1, inf, 2; s3: nobody reached -> all inf
    assert r.loc["x"].tolist() == [1.0, 1.0, INF]
    assert r.loc["y"].tolist() == [2.0, INF, INF]
    assert r.loc["z"].tolist() == [INF, 2.0, INF]


def test_profile_is_the_share_of_scenarios_within_tau():
    rho = profiles.profile(profiles.ratios(_times()), np.array([1.0, 1.5, 2.0, 4.0]))
    assert rho.loc["x"].tolist() == pytest.approx([2 / 3] * 4)
    assert rho.loc["y"].tolist() == pytest.approx([0, 0, 1 / 3, 1 / 3])
    assert rho.loc["z"].tolist() == pytest.approx([0, 0, 1 / 3, 1 / 3])


def test_score_is_the_normalised_area_under_the_profile():
    s = profiles.score(profiles.ratios(_times()))
    # x: (4-1) + (4-1) + 0 over 3 scenarios, / 3 -> 2/3; y and z: (4-2)/3/3 = 2/9
    assert s["x"] == pytest.approx(2 / 3)
    assert s["y"] == pytest.approx(2 / 9) and s["z"] == pytest.approx(2 / 9)
    # the area by numerical integration of the step function agrees
    taus = np.linspace(1, 4, 300001)
    rho = profiles.profile(profiles.ratios(_times()), taus)
    assert np.trapezoid(rho.loc["x"], taus) / 3 == pytest.approx(2 / 3, abs=1e-4)


def test_missing_runs_count_as_not_reached():
    times = pd.DataFrame({"s1": [10.0, np.nan], "s2": [np.nan, 5.0]}, index=["x", "y"])
    assert profiles.score(profiles.ratios(times)).tolist() == pytest.approx([0.5, 0.5])


def _timed(strategy, seed, scenario, t):
    r = _rec(strategy, seed, 0.8)
    r["scenario"] = scenario
    r["costs"].update(target_accuracy=0.75, time_to_target_s=t, peak_memory_mb=100.0)
    return r


def test_cost_view_medians_and_reached_counts():
    recs = [
        _timed("a", 0, "p", 4.0),
        _timed("a", 1, "p", 6.0),
        _timed("a", 2, "p", None),  # missed: infinite
        _timed("b", 0, "p", 2.0),
        _timed("b", 0, "q", None),
    ]
    costs = cost_frame(runs_frame(recs))
    a = costs[(costs["strategy"] == "a") & (costs["scenario"] == "p")].iloc[0]
    assert a["time_to_target_s"] == 6.0  # median of 4, 6, inf
    assert (a["reached"], a["timed"]) == (2, 3)
    times = profile_times(costs)
    assert times.loc["a", "q"] != times.loc["a", "q"]  # a did not run q: NaN
    summary = profile_summary(times)
    # p: b 2 (ratio 1), a 6 (ratio 3); q: nobody reached
    assert summary.loc["b", "score"] == pytest.approx(0.5)
    assert summary.loc["a", "score"] == pytest.approx((4 - 3) / 3 / 2)
    md = render(recs, "md")
    assert "### p (target 0.75)" in md and "| 2/3 " in md and "∞" in md
    assert "## Performance profile (time to target)" in md
    assert r"$\infty$" in render(recs, "latex")
    assert "time_to_target_s_median" in render(recs, "csv").splitlines()[0]


def test_records_without_targets_have_no_profile():
    md = render([_rec("a", 0, 0.6)], "md")
    assert "## Costs" in md and "Performance profile" not in md


def test_shares_and_scores_count_only_the_workloads_a_submission_applies_to():
    r = profiles.ratios(_times())
    # x applies to s1, s3; y to s2 only; z to none
    applies = pd.DataFrame(
        {"s1": [True, False, False], "s2": [False, True, False], "s3": [True, False, False]},
        index=["x", "y", "z"],
    )
    rho = profiles.profile(r, np.array([1.0, 2.0]), applies)
    # x: s1 ratio 1, s3 inf -> 1/2 at both taus (s2, ratio 1, does not count); y: s2 inf
    # -> 0 (s1, ratio 2, does not count); z: nothing to count -> NaN
    assert rho.loc["x"].tolist() == pytest.approx([0.5, 0.5])
    assert rho.loc["y"].tolist() == [0.0, 0.0]
    assert rho.loc["z"].isna().all()
    s = profiles.score(r, applies=applies)
    assert s["x"] == pytest.approx((4 - 1) / 2 / 3)  # (3 + 0) over 2 workloads, / (4 - 1)
    assert s["y"] == 0.0 and math.isnan(s["z"])


def _kind(r, kind):
    r["kind"] = kind
    return r


def test_a_method_for_one_kind_is_scored_over_that_kind_only():
    # p, q: class-il; c: ctta. "t" (a CTTA method) ran c only; "a" ran p and missed q.
    recs = [
        _timed("a", 0, "p", 4.0),
        _timed("b", 0, "p", 2.0),
        _timed("b", 0, "q", 3.0),
        _kind(_timed("t", 0, "c", 5.0), "ctta"),
        _kind(_timed("u", 0, "c", 10.0), "ctta"),
    ]
    costs = cost_frame(runs_frame(recs))
    times = profile_times(costs)
    applies = profile_applies(costs, times)
    assert applies.loc["t"].to_dict() == {"c": True, "p": False, "q": False}
    assert applies.loc["a"].to_dict() == {"c": False, "p": True, "q": True}
    s = profile_summary(times, applies)
    assert s.loc["t", "score"] == 1.0  # fastest on every scenario it applies to (before: 1/3)
    assert s.loc["u", "score"] == pytest.approx((4 - 2) / 3)
    assert s.loc["b", "score"] == 1.0
    assert s.loc["a", "score"] == pytest.approx((4 - 2) / 3 / 2)  # no run on q: not reached
    assert (s.loc["a", "scenarios"], s.loc["a", "applicable"]) == (1, 2)
    md = render(recs, "md")
    assert "| scenarios run / applicable" in md and "| t " in md and "| 1/1 " in md
    assert "| 1/2 " in md  # a: ran p, applies to p and q


def test_profile_plot_with_and_without_applicable_scenarios(tmp_path):
    from clbench.leaderboard import _plot_profile

    times = _times()
    applies = times.notna() & (times.columns != "s3")  # any mask of the same shape
    assert _plot_profile(times, tmp_path / "a.png", applies).stat().st_size > 0
    assert _plot_profile(times, tmp_path / "b.png").stat().st_size > 0  # the tuned profile's call
