"""Leaderboard tables and plots from records."""

import json
from pathlib import Path

import pytest

from clbench.cli import main
from clbench.leaderboard import render, runs_frame, summary_frame, write_plots
from clbench.records import SCHEMA_VERSION, load_records, write_record
from clbench.tuned import render_tuned

REPO = Path(__file__).resolve().parents[1]


def _rec(strategy, seed, final, matrix=None):
    matrix = matrix or [[1.0, 0.0], [0.5, final * 2 - 0.5]]
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": f"{strategy}-{seed}",
        "strategy": strategy,
        "scenario": "toy",
        "kind": "class-il",
        "seed": seed,
        "config": {},
        "accuracy_matrix": matrix,
        "seen_accuracy": [1.0, final],
        "test_sizes": [10, 10],
        "metrics": {
            "final_accuracy": final,
            "average_incremental_accuracy": (1 + final) / 2,
            "forgetting": 0.5,
            "bwt": -0.5,
        },
        "costs": {"wall_time_s": 2.0 + seed, "train_samples_per_s": 100.0},
    }


RECORDS = [_rec("a", 0, 0.6), _rec("a", 1, 0.8), _rec("b", 0, 0.9)]


def test_summary_mean_std_and_seed_count():
    s = summary_frame(runs_frame(RECORDS))
    assert list(s["strategy"]) == ["b", "a"]  # best final accuracy first
    a = s[s["strategy"] == "a"].iloc[0]
    assert a["final_accuracy_mean"] == pytest.approx(0.7)
    assert a["final_accuracy_std"] == pytest.approx(0.1414213, rel=1e-5)  # sample std of 0.6, 0.8
    assert a["seeds"] == 2


def test_markdown_csv_latex():
    md = render(RECORDS, "md")
    assert "## toy (class-il)" in md
    assert "| a          | 2       | 0.700 ± 0.141" in md or "0.700 ± 0.141" in md
    assert "0.900 " in md  # one seed: no ± part
    csv = render(RECORDS, "csv")
    assert csv.splitlines()[0].startswith("scenario,kind,strategy,")
    tex = render(RECORDS, "latex")
    assert r"\toprule" in tex and r"0.700 $\pm$ 0.141" in tex


def test_plots_and_links(tmp_path):
    for r in RECORDS:
        write_record(r, tmp_path)
    out = tmp_path / "LEADERBOARD.md"
    assert (
        main(
            [
                "leaderboard",
                str(tmp_path),
                "--format",
                "md",
                "--out",
                str(out),
                "--plots",
                str(tmp_path / "plots"),
            ]
        )
        == 0
    )
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pngs == ["toy-accuracy-matrix.png", "toy-seen-accuracy.png"]
    assert all((tmp_path / "plots" / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)
    text = out.read_text()
    assert "](plots/toy-seen-accuracy.png)" in text
    # printing without --out/--plots reproduces the file
    assert main(["leaderboard", str(tmp_path), "--format", "md"]) == 0


def test_print_reproduces_written_file(tmp_path, capsys):
    for r in RECORDS:
        write_record(r, tmp_path)
    main(
        [
            "leaderboard",
            str(tmp_path),
            "--out",
            str(tmp_path / "L.md"),
            "--plots",
            str(tmp_path / "plots"),
        ]
    )
    capsys.readouterr()
    main(["leaderboard", str(tmp_path)])
    assert capsys.readouterr().out == (tmp_path / "L.md").read_text()


def test_corrupt_record_is_named_and_skipped(tmp_path, capsys):
    write_record(RECORDS[0], tmp_path)
    (tmp_path / "runs" / "bad.json").write_text("{oops")
    assert main(["leaderboard", str(tmp_path), "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert "bad.json" in captured.err and "a" in captured.out


def _untracked_records() -> bool:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "results/runs"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError:
        return False
    return out.returncode == 0 and bool(out.stdout.strip())


def test_committed_leaderboard_is_reproducible():
    board = REPO / "results" / "LEADERBOARD.md"
    if not board.exists():
        pytest.skip("no committed leaderboard")
    records, problems = load_records(REPO / "results")
    assert problems == []
    if _untracked_records():
        pytest.skip("results/ holds records that are not committed (local runs)")
    text = render(records, "md", REPO / "results" / "plots", link_base=REPO / "results")
    text += render_tuned(REPO / "results")  # the tuning studies, as `clbench leaderboard` adds
    assert text == board.read_text()
    for line in text.splitlines():
        if line.startswith("!["):
            assert (REPO / "results" / line.split("](")[1].rstrip(")")).is_file()


def test_committed_records_meet_the_harness_targets():
    records, _ = load_records(REPO / "results")
    mine = [
        r
        for r in records
        if r["scenario"] == "split-mnist-5k" and r["strategy"] in ("finetune", "replay", "joint")
    ]
    if not mine:
        pytest.skip("no committed split-mnist-5k records")
    s = summary_frame(runs_frame(mine)).set_index("strategy")
    assert (s["seeds"] >= 3).all()
    fin, rep, joint = (s.loc[k, "final_accuracy_mean"] for k in ("finetune", "replay", "joint"))
    assert fin < 0.3 and rep >= fin + 0.25 and joint >= rep
    for r in mine:  # measured by clbench, not typed: config and versions are present
        assert r["config"]["strategy"]["name"] == r["strategy"] and "torch" in r["versions"]


def test_write_plots_returns_files(tmp_path):
    files = write_plots(RECORDS, tmp_path)
    assert len(files) == 2 and all(f.stat().st_size > 1000 for f in files)
    json.dumps([str(f) for f in files])


def test_online_runs_and_schedules_get_their_own_rows():
    base = _rec("replay", 0, 0.8)
    online = {**_rec("replay", 0, 0.7), "config": {"scenario": {"online": True, "batch_size": 10}}}
    both = {
        **_rec("replay", 1, 0.6),
        "config": {"train": {"schedule": "cosine"}, "scenario": {"online": True, "batch_size": 10}},
    }
    labels = runs_frame([base, online, both])["strategy"].tolist()
    assert labels == ["replay", "replay [online, batch 10]", "replay [cosine, online, batch 10]"]
