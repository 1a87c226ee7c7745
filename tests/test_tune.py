"""`clbench tune` end to end on tiny runs: no test-stream accuracy can change which trial is
picked, and a stopped study resumes without re-running finished trials, to the same picks."""

import json

import pytest
import torch
from torch.utils.data import TensorDataset

from clbench.cli import main
from clbench.records import load_records
from clbench.stream import Scenario
from clbench.tune import tune

TINY = ["train.epochs=1", "backbone.hidden_dim=16", "trainer.accelerator=cpu"]
TINY += ["trainer.progress_bar=false"]


def _study(res, **kw):
    args = dict(overrides=[*TINY, f"results.dir={res}"], final_seeds=(), variants={}, name="s")
    assert tune("finetune", "split-digits", 3, 2, **{**args, **kw}) == 0
    return json.loads((res / "tuning" / "s" / "study.json").read_text())


def _choices(study):  # what was picked and why (not how long the trials took)
    keys = ("study", "trial", "values", "validation_final_accuracy", "trials_finished")
    return [{k: p[k] for k in keys} for p in study["picks"]]


@pytest.mark.slow  # 12 tiny runs
def test_test_data_cannot_change_the_picks(tmp_path, monkeypatch):
    clean = _study(tmp_path / "clean")
    experiences = Scenario.experiences

    def corrupted(self):  # test labels permuted and test inputs replaced by noise
        out = experiences(self)
        g = torch.Generator().manual_seed(0)
        for e in out:
            x, y = e.test.tensors
            e.test = TensorDataset(
                torch.randn(x.shape, generator=g), y[torch.randperm(len(y), generator=g)]
            )
        return out

    monkeypatch.setattr(Scenario, "experiences", corrupted)
    bad = _study(tmp_path / "bad")
    assert _choices(bad) == _choices(clean)
    test_acc = {
        d: sorted(
            r["metrics"]["final_accuracy"]
            for r in load_records(tmp_path / d / "tuning/s/trials")[0]
        )
        for d in ("clean", "bad")
    }
    assert test_acc["clean"] != test_acc["bad"]  # the test data were corrupted


@pytest.mark.slow  # 6 tiny runs, then 2 again, then the picks' test runs
def test_a_stopped_study_resumes_to_the_same_picks(tmp_path, capsys):
    res = tmp_path / "res"
    first = _study(res)
    trials = sorted((res / "tuning/s/trials/runs").rglob("*.json"))
    for path in trials[:2]:  # as if the study had been killed before these two finished
        path.unlink()
    capsys.readouterr()
    again = _study(res, final_seeds=(0,))
    out = capsys.readouterr().out
    assert "6 runs, 4 already done, 2 to run" in out
    assert _choices(again) == _choices(first)
    assert len(load_records(res / "tuning/s/final")[0]) == len(
        {str(p["values"]) for p in first["picks"]}
    )
    # once done, nothing runs again: the CLI resumes the same study by its settings
    args = ["tune", "--strategy", "finetune", "--scenario", "split-digits", "--trials", "3"]
    args += ["--studies", "2", "--seeds", "0", "--heldout", "none", "--name", "s"]
    assert main([*args, *TINY, f"results.dir={res}"]) == 0
    assert "6 runs, 6 already done, 0 to run" in capsys.readouterr().out
    # the studies are tabulated apart: none of their runs is a row of the plain leaderboard
    assert load_records(res)[0] == []
    assert main(["leaderboard", str(res), "--with-tuning-cost"]) == 0
    board = capsys.readouterr().out
    assert "| finetune   | 3 trials x 2 studies |" in board and "tuning wall time included" in board
