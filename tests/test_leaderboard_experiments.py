"""The leaderboard never mixes experiments (issue #14, part 2): rows are experiments, a seed
recorded twice counts once, and records that cannot be tabulated are skipped with a reason."""

import copy
import json

import pytest
from test_leaderboard import _rec

from clbench.cli import main
from clbench.experiments import flatten, label_experiments
from clbench.leaderboard import duplicates, render, runs_frame, summary_frame
from clbench.records import load_records, problem


def _with(record, run_id, **config):
    r = copy.deepcopy(record)
    r["run_id"] = run_id
    r["config"] = {"train": {"epochs": 1, "lr": 0.1}, "results": {"dir": "a"}, **config}
    return r


def _epochs(record, epochs, run_id, results_dir="a"):
    r = _with(record, run_id)
    r["config"]["train"]["epochs"] = epochs
    r["config"]["results"]["dir"] = results_dir
    return r


def test_flatten_dots_nested_keys_and_keeps_lists():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": 1, "a.c": [1, 2], "d": None}


def test_runs_that_differ_in_a_setting_are_separate_rows_labelled_by_it():
    recs = [
        _epochs(_rec("a", 0, 0.6), 1, "r1"),
        _epochs(_rec("a", 1, 0.8), 1, "r2", results_dir="elsewhere"),  # irrelevant key
        _epochs(_rec("a", 0, 0.2), 3, "r3"),
    ]
    s = summary_frame(runs_frame(recs)).set_index("strategy")
    assert sorted(s.index) == ["a {train.epochs=1}", "a {train.epochs=3}"]
    assert s.loc["a {train.epochs=1}", "seeds"] == 2
    assert s.loc["a {train.epochs=1}", "final_accuracy_mean"] == pytest.approx(0.7)
    assert s.loc["a {train.epochs=3}", "final_accuracy_mean"] == pytest.approx(0.2)


def test_one_experiment_keeps_the_plain_name():
    recs = [_epochs(_rec("a", 0, 0.6), 1, "r1"), _epochs(_rec("a", 1, 0.8), 1, "r2")]
    assert {label for _, label, _ in label_experiments(recs)} == {"a"}


def test_a_seed_recorded_twice_counts_once_and_is_flagged():
    recs = [
        _epochs(_rec("a", 0, 0.6), 1, "20260101-first"),
        _epochs(_rec("a", 0, 0.9), 1, "20260102-again"),
        _epochs(_rec("a", 1, 0.8), 1, "20260103"),
    ]
    s = summary_frame(runs_frame(recs)).iloc[0]
    assert s["runs"] == 2 and s["seeds"] == 2
    assert s["final_accuracy_mean"] == pytest.approx(0.7)  # the earlier record of seed 0
    (line,) = duplicates(recs)
    assert "20260102-again" in line and "seed 0 also in 20260101-first" in line
    assert "(seed 0 twice: once)" in render(recs, "md")


def _write(tmp_path, name, record):
    path = tmp_path / "runs" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda r: r["metrics"].update(final_accuracy="0.9"), "non-numeric metrics"),
        (lambda r: r.update(accuracy_matrix=[[1.0, 0.0], [0.5]]), "ragged"),
        (lambda r: r.update(accuracy_matrix=[[1.0, 0.0]]), "1 rows but seen_accuracy has 2"),
        (lambda r: r.update(accuracy_matrix=[[1.0], [0.5]]), "1 columns but test_sizes has 2"),
        (lambda r: r.update(experience_classes=[[0]]), "2 rows but experience_classes has 1"),
        (lambda r: r.update(seed="0"), "not an integer"),
        (lambda r: r.update(metrics=[0.5]), "metrics is not an object"),
    ],
)
def test_records_that_cannot_be_tabulated_are_skipped_with_a_reason(tmp_path, change, reason):
    bad = _rec("a", 0, 0.6)
    change(bad)
    assert reason in problem(bad)
    _write(tmp_path, "bad", bad)
    _write(tmp_path, "good", _rec("b", 0, 0.9))
    records, problems = load_records(tmp_path)
    assert [r["strategy"] for r in records] == ["b"]
    assert len(problems) == 1 and reason in problems[0] and "bad.json" in problems[0]


def test_leaderboard_with_plots_skips_a_ragged_record_in_one_line(tmp_path, capsys):
    bad = _rec("a", 0, 0.6)
    bad["accuracy_matrix"] = [[1.0, 0.0], [0.5]]
    _write(tmp_path, "bad", bad)
    _write(tmp_path, "good", _rec("b", 0, 0.9))
    assert main(["leaderboard", str(tmp_path), "--plots", str(tmp_path / "plots")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.json" in err[0] and "ragged" in err[0]


def test_a_seed_that_follows_the_run_seed_does_not_split_the_experiment():
    recs = [_epochs(_rec("a", s, 0.5), 1, f"r{s}") for s in (0, 1)]
    for r in recs:
        r["config"]["scenario"] = {"episode_seed": r["seed"]}
    assert {label for _, label, _ in label_experiments(recs)} == {"a"}
    recs[1]["config"]["scenario"]["episode_seed"] = 7  # set apart from the run's seed
    assert len({label for _, label, _ in label_experiments(recs)}) == 2


def test_a_seed_fixed_apart_from_the_run_seed_is_one_setting_for_every_seed():
    # permuted-mnist-5k's permutation_seed is 0 for every run seed: equal to seed 0's by chance
    recs = [_epochs(_rec("a", s, 0.5), 1, f"r{s}") for s in (0, 1, 2)]
    for r in recs:
        r["config"]["scenario"] = {"permutation_seed": 0}
    assert {label for _, label, _ in label_experiments(recs)} == {"a"}
    recs[2]["config"]["scenario"]["permutation_seed"] = 3  # another permutation: another row
    assert sorted({label for _, label, _ in label_experiments(recs)}) == [
        "a {scenario.permutation_seed=0}",
        "a {scenario.permutation_seed=3}",
    ]


def test_schedule_settings_the_schedule_does_not_read_do_not_split_experiments():
    base = _rec("a", 0, 0.6)
    old = _with(base, "r1")
    new = _with(_rec("a", 1, 0.8), "r2")
    old["config"]["train"].update(min_lr_ratio=0.05, infinite_constant_ratio=0.75)
    new["config"]["train"].update(min_lr_ratio=0.01, infinite_constant_ratio=0.25)
    ids = [eid for eid, _, _ in label_experiments([old, new])]
    assert ids[0] == ids[1]  # constant schedule: neither key is read
    for r in (old, new):
        r["config"]["train"]["schedule"] = "cosine"  # reads min_lr_ratio only
    labels = [label for _, label, _ in label_experiments([old, new])]
    assert labels == [
        "a [cosine] {train.min_lr_ratio=0.05}",
        "a [cosine] {train.min_lr_ratio=0.01}",
    ]
