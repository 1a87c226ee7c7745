"""A real 2-process DDP run on CPU (gloo): one record, the same numbers as one process."""

import json
import os
import subprocess
import sys

import pytest

ARGS = [
    "--strategy",
    "replay",
    "--scenario",
    "split-digits",
    "seed=2",
    "train.epochs=2",
    "trainer.accelerator=cpu",
    "trainer.progress_bar=false",
]


def _run(tmp_path, *extra):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LOCAL_RANK", "WORLD_SIZE", "CLBENCH_RUN_ID")
    }
    proc = subprocess.run(
        [sys.executable, "-m", "clbench", "run", *ARGS, f"results.dir={tmp_path}", *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sorted((tmp_path / "runs").rglob("*.json"))


def test_two_process_ddp_writes_one_record_matching_one_process(tmp_path):
    ddp = _run(tmp_path / "ddp", "trainer.devices=2", "trainer.strategy=ddp")
    assert len(ddp) == 1, ddp
    rec = json.loads(ddp[0].read_text())
    assert rec["world_size"] == 2
    assert sum(rec["test_sizes"]) == 360  # every test sample scored exactly once

    single = _run(tmp_path / "one")
    ref = json.loads(single[0].read_text())
    # Same global batches and replay draws: only float summation order differs.
    for a, b in zip(rec["accuracy_matrix"], ref["accuracy_matrix"], strict=True):
        assert a == pytest.approx(b, abs=0.02)
