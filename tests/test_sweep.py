"""Sweeps: grid expansion and skipping finished runs (the executors: tests/test_executors.py)."""

import pytest

from clbench.cli import main
from clbench.errors import ClbenchError
from clbench.records import load_records
from clbench.sweep import expand, pending, run_key


def _write(tmp_path, text):
    f = tmp_path / "sweep.yaml"
    f.write_text(text)
    return f


def test_expand_is_the_cartesian_product(tmp_path):
    f = _write(
        tmp_path,
        "strategies: [finetune, replay]\nscenarios: [split-digits]\nseeds: [0, 1, 2]\n"
        "grid:\n  train.lr: [0.01, 0.1]\noverrides: [train.epochs=1]\n",
    )
    jobs, params = expand(f)
    assert len(jobs) == 2 * 1 * 3 * 2 and params == {}
    assert jobs[0].argv() == [
        "run",
        "--strategy",
        "finetune",
        "--scenario",
        "split-digits",
        "train.epochs=1",
        "seed=0",
        "train.lr=0.01",
    ]
    assert ["seed=2", "train.lr=0.1"] in [j.argv()[-2:] for j in jobs]


def test_run_key_ignores_presentation_only_settings():
    a = {"seed": 1, "results": {"dir": "a"}, "trainer": {"progress_bar": True, "devices": 1}}
    b = {"seed": 1, "results": {"dir": "b"}, "trainer": {"progress_bar": False, "devices": 1}}
    assert run_key(a) == run_key(b)
    assert run_key(a) != run_key({**a, "seed": 2})


def test_bad_sweep_files(tmp_path):
    with pytest.raises(ClbenchError, match="unknown key 'seed'"):
        expand(_write(tmp_path, "strategies: [replay]\nscenarios: [split-digits]\nseed: [1]\n"))
    with pytest.raises(ClbenchError, match="needs 'scenarios'"):
        expand(_write(tmp_path, "strategies: [replay]\n"))
    jobs, _ = expand(
        _write(tmp_path, "strategies: [replya]\nscenarios: [split-digits]\nseeds: [0]\n")
    )
    with pytest.raises(ClbenchError, match="unknown strategy 'replya'"):
        pending(jobs)  # every run is validated before any starts


def test_sweep_runs_once_then_skips(tmp_path, capsys):
    res = tmp_path / "res"
    f = _write(
        tmp_path,
        f"strategies: [finetune]\nscenarios: [split-digits]\nseeds: [0, 1]\n"
        f"overrides: [train.epochs=1, trainer.accelerator=cpu, 'results.dir={res}']\n",
    )
    assert main(["sweep", str(f)]) == 0
    assert len(load_records(res)[0]) == 2
    capsys.readouterr()
    assert main(["sweep", str(f), "--dry-run"]) == 0
    assert "2 runs, 2 already in the results folder, 0 to run" in capsys.readouterr().out
