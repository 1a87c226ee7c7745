"""A run killed mid-stream resumes to the same record; Ctrl-C leaves a resumable run."""

import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import cli_env

from clbench.checkpoint import load
from clbench.cli import main

ARGS = [
    "--strategy",
    "replay",
    "--scenario",
    "split-digits",
    "seed=4",
    "train.epochs=4",
    "trainer.accelerator=cpu",
    "trainer.progress_bar=false",
]
ENV = {"PYTHONUNBUFFERED": "1"}
# The child clbench waits in its first training step of experience 3, so that the signal the
# test sends on reading "experience 2/5" lands inside Lightning's fit however loaded the
# machine is (a 5-second run could otherwise finish before a busy test process reads a line).
# Ctrl-C is Python's default there even when the tests run in the background, where the
# shell starts them with SIGINT ignored and every child would inherit that.
PAUSED_CHILD = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from strategies.base import Strategy
step, waited = Strategy.training_step, []
def paused(self, batch, batch_idx):
    if self.experience_index == 2 and not waited:  # once: the signal ends the wait
        waited.append(True)
        time.sleep(120)
    return step(self, batch, batch_idx)
Strategy.training_step = paused
from clbench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _start(results):
    return subprocess.Popen(
        [sys.executable, "-c", PAUSED_CHILD, "run", *ARGS, f"results.dir={results}"],
        env=cli_env(ENV),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _stop_in_experience_3(proc, sig):
    for line in proc.stdout:
        if line.startswith("experience 2/5"):  # printed after experience 2's state is saved
            proc.send_signal(sig)
            break
    rest = proc.stdout.read()
    return proc.wait(timeout=120), rest


def _run_dir(results):
    (run_dir,) = (results / "work" / "split-digits" / "replay").iterdir()
    return run_dir


def _records(results):
    return sorted((results / "runs").rglob("*.json")) if (results / "runs").exists() else []


@pytest.mark.slow  # clbench subprocesses
def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path, run_cli):
    killed = tmp_path / "killed"
    code, _ = _stop_in_experience_3(_start(killed), signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert _records(killed) == []  # no partial record
    run_dir = _run_dir(killed)
    assert len(load(run_dir)["rows"]) == 2

    t = time.perf_counter()
    assert main(["run", "--resume", str(run_dir)]) == 0
    resume_s = time.perf_counter() - t
    (rec_path,) = _records(killed)
    resumed = json.loads(rec_path.read_text())
    assert resumed["run_id"] == run_dir.name and resumed["resumes"] == 1

    whole = tmp_path / "whole"
    proc = run_cli("run", *ARGS, f"results.dir={whole}", env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (ref_path,) = _records(whole)
    ref = json.loads(ref_path.read_text())
    assert resumed["accuracy_matrix"] == ref["accuracy_matrix"]  # exactly, on CPU
    assert resumed["metrics"] == ref["metrics"]
    print(f"resume of 3 remaining experiences took {resume_s:.1f} s in-process")


@pytest.mark.slow  # a clbench subprocess
def test_ctrl_c_exits_130_and_leaves_a_resumable_run(tmp_path):
    code, out = _stop_in_experience_3(_start(tmp_path), signal.SIGINT)
    assert code == 130, out[-2000:]
    assert "clbench: interrupted; resume with: clbench run --resume" in out
    assert _records(tmp_path) == []
    assert len(load(_run_dir(tmp_path))["rows"]) >= 2


def test_resume_refuses_a_different_config_and_a_finished_run(tmp_path, capsys):
    assert main(["run", *ARGS, "train.epochs=1", f"results.dir={tmp_path}"]) == 0
    run_dir = _run_dir(tmp_path)
    capsys.readouterr()
    assert main(["run", "--resume", str(run_dir), "seed=5"]) == 2
    assert "cannot resume" in capsys.readouterr().err
    assert main(["run", "--resume", str(run_dir)]) == 2
    assert "already complete" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "not a clbench run folder" in capsys.readouterr().err


@pytest.mark.parametrize("strategy", ["joint", "replay"])
def test_strategy_state_survives_the_state_dict(strategy, results_dir):
    """What the checkpoint stores is enough to rebuild the strategy's state."""
    from conftest import quick_cfg

    from clbench.runner import run

    cfg = quick_cfg(strategy, "split-digits", results_dir, "train.epochs=1")
    run(cfg)
    run_dir = next((results_dir / "work").rglob("state.pt")).parent
    state = load(run_dir)
    assert len(state["rows"]) == 5
    if strategy == "replay":
        buf = state["model"]["_extra_state"]["buffer"]
        assert buf["size"] == 200 and buf["n_seen"] == 1437 and buf["x"].shape[0] == 200
