"""2-process CPU DDP runs of nmc and teen on fscil-mnist-5k: the numbers of one process.

The prototypes are per-class sums and counts over sharded encoding, all-reduced, so both
runs classify with the same class means; TEEN's base session trains on the same global
batches (only float summation order differs).
"""

import json

import pytest

COMMON = ["--scenario", "fscil-mnist-5k", "trainer.accelerator=cpu", "trainer.progress_bar=false"]


def _run(run_cli, tmp_path, strategy, *extra):
    proc = run_cli(
        "run", "--strategy", strategy, *COMMON, f"results.dir={tmp_path}", *extra, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = sorted((tmp_path / "runs").rglob("*.json"))
    return json.loads(path.read_text())


def _check(run_cli, tmp_path, strategy, tol, *extra):
    ddp = _run(
        run_cli, tmp_path / "ddp", strategy, "trainer.devices=2", "trainer.strategy=ddp", *extra
    )
    one = _run(run_cli, tmp_path / "one", strategy, *extra)
    assert ddp["world_size"] == 2 and one["world_size"] == 1
    assert ddp["test_sizes"] == one["test_sizes"]  # every test digit scored once
    for a, b in zip(ddp["accuracy_matrix"], one["accuracy_matrix"], strict=True):
        assert a == pytest.approx(b, abs=tol)
    return ddp, one


@pytest.mark.slow  # DDP: 2 gloo processes, then a third clbench run
def test_nmc_two_processes_match_one(tmp_path, run_cli):
    # Same backbone (seeded init) and the same class means: identical decisions.
    _check(run_cli, tmp_path, "nmc", 1e-9)


@pytest.mark.slow
def test_teen_two_processes_match_one(tmp_path, run_cli):
    ddp, one = _check(run_cli, tmp_path, "teen", 0.02, "train.epochs=1")
    novel = [ddp["metrics"]["final_novel_accuracy"], one["metrics"]["final_novel_accuracy"]]
    assert novel[0] == pytest.approx(novel[1], abs=0.02)
