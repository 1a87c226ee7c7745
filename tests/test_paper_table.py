"""Paper vs measured (clbench/paper_table.py) on hand-made records and presets."""

from __future__ import annotations

import pytest

from clbench import paper_table
from clbench.leaderboard import render
from clbench.presets import parse
from clbench.records import SCHEMA_VERSION, problem

PRESET = parse(
    "toy-m50",
    {
        "strategy": "replay",
        "scenario": "toy",
        "paper": "A. Author, 2026",
        "reported": [
            {
                "value": 80.0,
                "metric": "final_accuracy",
                "table": "Table 1",
                "row": "replay, M = 50",
            },
            {"value": 10.0, "metric": "forgetting", "table": "Table 2", "row": "replay"},
        ],
        "tolerance": [1.5, "ours"],
        "settings": {"strategy.buffer_size": [50, "paper"], "train.betas": [[0.9, 0.99], "code"]},
    },
)
UNRUN = parse(
    "never-run",
    {
        "strategy": "teen",
        "scenario": "cub200",
        "paper": "p",
        "reported": [{"value": 59.31, "metric": "final_accuracy", "table": "T", "row": "r"}],
        "settings": {"train.epochs": [400, "code"]},
    },
)
NO_NUMBER = parse(
    "no-number",
    {"strategy": "replay", "scenario": "toy", "paper": "p", "reported": [], "settings": {}},
)


def _rec(seed, final, forgetting=0.1, preset="toy-m50", buffer=50, run_id=None):
    config = {
        "seed": seed,
        "preset": preset,
        "strategy": {"name": "replay", "buffer_size": buffer},
        "train": {"betas": [0.9, 0.99], "lr": 0.05},
        "results": {"dir": f"/tmp/r{seed}"},
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id or f"2026-s{seed}-{final}",
        "strategy": "replay",
        "scenario": "toy",
        "kind": "class-il",
        "seed": seed,
        "config": config,
        "accuracy_matrix": [[1.0, 0.0], [0.5, final]],
        "seen_accuracy": [1.0, final],
        "test_sizes": [10, 10],
        "metrics": {
            "final_accuracy": final,
            "average_incremental_accuracy": (1 + final) / 2,
            "forgetting": forgetting,
            "bwt": -forgetting,
        },
        "costs": {"wall_time_s": 1.0, "train_samples_per_s": 100.0},
    }


def test_mean_std_diff_and_verdicts_by_hand():
    # finals 0.79, 0.80, 0.84 -> 81.0 %, sample std of (79, 80, 84) = sqrt(7) = 2.6458
    records = [_rec(0, 0.79, 0.20), _rec(1, 0.80, 0.10), _rec(2, 0.84, 0.12)]
    final, forget = paper_table.rows(records, [PRESET])
    assert final.values == pytest.approx((79.0, 80.0, 84.0))
    assert final.ours == pytest.approx(81.0) and final.diff == pytest.approx(1.0)
    assert final.verdict == "reproduced"  # |+1.0| <= 1.5
    assert forget.ours == pytest.approx(14.0) and forget.diff == pytest.approx(4.0)
    assert forget.verdict == "not reproduced"
    body = paper_table._body([final], " ± ")[0]
    assert body[2:] == [
        "80.00",
        "Table 1: replay, M = 50",
        "81.00 ± 2.65 (3)",
        "+1.00",
        "1.5",
        "reproduced",
    ]


def test_tolerance_edge_counts_as_reproduced():
    row = paper_table.rows([_rec(0, 0.785)], [PRESET])[0]  # 78.5: diff -1.5, tolerance 1.5
    assert row.diff == pytest.approx(-1.5) and row.verdict == "reproduced"
    assert paper_table._ours(row, " ± ") == "78.50 (1)"  # one seed: no std


def test_unrun_preset_keeps_its_row_as_not_measured():
    rows = paper_table.rows([_rec(0, 0.8)], [PRESET, UNRUN, NO_NUMBER])
    unrun = [r for r in rows if r.preset == "never-run"]
    assert len(unrun) == 1 and unrun[0].verdict == "not measured here" and unrun[0].ours is None
    nonum = [r for r in rows if r.preset == "no-number"]
    assert [r.verdict for r in nonum] == ["not measured here"]
    ran = [_rec(0, 0.8, preset="no-number")]
    assert paper_table.rows(ran, [NO_NUMBER])[0].verdict == "no paper number"


def test_changed_settings_other_presets_and_repeated_seeds_are_left_out():
    records = [
        _rec(0, 0.80),
        _rec(0, 0.10, run_id="2027-s0-late"),  # seed 0 again, later: counted once
        _rec(1, 0.82),
        _rec(2, 0.20, buffer=999),  # the preset's buffer changed: not the paper's recipe
        _rec(3, 0.30, preset=None),  # no preset: a plain run
        _rec(4, 0.30, preset="other"),
    ]
    row = paper_table.rows(records, [PRESET])[0]
    assert row.values == pytest.approx((80.0, 82.0))
    assert row.note == "1 record(s) with changed settings left out"


def test_a_second_experiment_of_a_preset_is_noted_and_the_larger_one_kept():
    other = [_rec(s, 0.5) for s in (5, 6, 7)]
    for r in other:
        r["config"]["train"]["lr"] = 0.5  # not a preset setting: another experiment
    row = paper_table.rows([_rec(0, 0.8), *other], [PRESET])[0]
    assert row.values == pytest.approx((50.0, 50.0, 50.0))
    assert "1 other experiment(s) of this preset left out" in row.note


def test_markdown_and_latex_sections_and_the_leaderboard_carries_them():
    records = [_rec(0, 0.8), _rec(1, 0.82)]
    md = "\n".join(paper_table.section(records, "md", [PRESET, UNRUN]))
    assert "## Paper vs measured" in md and "2 of 3 numbers measured here." in md
    assert "| never-run" in md and "not measured here" in md and "81.00 ± 1.41 (2)" in md
    tex = "\n".join(paper_table.section(records, "latex", [PRESET]))
    assert r"81.00 $\pm$ 1.41 (2)" in tex and r"\toprule" in tex
    assert paper_table.section(records, "csv", [PRESET]) == []
    board = render(records, "md")  # the shipped presets: none run here
    assert "## Paper vs measured" in board and "| teen-cifar100" in board
    assert "0 of " in board


def test_record_check_knows_the_preset_key():
    rec = _rec(0, 0.8)
    assert problem(rec) is None
    rec["config"]["preset"] = 3
    assert problem(rec) == "config.preset 3 is not a preset name"


def test_a_preset_run_is_its_own_experiment_with_a_tagged_label():
    from clbench.experiments import label_experiments, run_label

    assert run_label(_rec(0, 0.8)) == "replay [preset toy-m50]"
    plain = _rec(1, 0.8, preset=None)
    assert run_label(plain) == "replay"
    ids = [eid for eid, _, _ in label_experiments([_rec(0, 0.8), plain])]
    assert ids[0] != ids[1]


@pytest.mark.slow
def test_a_preset_run_lands_in_the_paper_section(tmp_path, monkeypatch):
    """`clbench run --preset` on a toy preset (names this branch has): the record names the
    preset and the leaderboard's paper section measures it."""
    import json

    from clbench import presets
    from clbench.cli import main

    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "toy-digits.yaml").write_text(
        "strategy: replay\nscenario: split-digits\npaper: p\nreported:\n"
        "  - {value: 90.0, metric: final_accuracy, table: T1, row: replay}\n"
        "settings:\n  strategy.buffer_size: [50, paper]\n  train.epochs: [1, ours]\n"
    )
    monkeypatch.setattr(presets, "FOLDER", folder)
    presets.load.cache_clear()
    res = tmp_path / "res"
    quiet = ["trainer.accelerator=cpu", "trainer.progress_bar=false", f"results.dir={res}"]
    assert main(["run", "--preset", "toy-digits", *quiet]) == 0
    (path,) = res.rglob("runs/*/*/*.json")
    record = json.loads(path.read_text())
    assert record["config"]["preset"] == "toy-digits"
    assert record["config"]["strategy"]["buffer_size"] == 50
    assert main(["leaderboard", str(res), "--out", str(tmp_path / "lb.md")]) == 0
    board = (tmp_path / "lb.md").read_text()
    assert "replay [preset toy-digits]" in board
    ours = 100 * record["metrics"]["final_accuracy"]
    assert "| toy-digits | final_accuracy | 90.00" in board and f"{ours:.2f} (1)" in board
    presets.load.cache_clear()
