"""OCM under 2-process DDP (CPU, gloo): every process computes the gathered global step (the
shared part of strategies/onpro/), so the buffer, the previous model and the weights agree
across processes (the runner checks) and the numbers match one process."""

import json

import pytest
from test_ddp import _run

OCM = [
    "scenario.online=true",
    "scenario.batch_size=10",
    "strategy.buffer_size=100",
    "strategy.ins_views=1",
    "strategy.mem_batch_size=32",
    "strategy.script=cifar10",  # every term, the old-class logit MSE included
]


@pytest.mark.heavy
def test_ocm_two_processes_match_one(tmp_path, monkeypatch, run_cli):
    import test_ddp

    # options first: argparse takes the key=value overrides as one positional run
    base = ["--strategy", "ocm", "--scenario", "split-digits", "seed=2"]
    base += ["trainer.accelerator=cpu", "trainer.progress_bar=false", *OCM]
    monkeypatch.setattr(test_ddp, "ARGS", base)
    ddp = _run(run_cli, tmp_path / "ddp", "trainer.devices=2", "trainer.strategy=ddp")
    rec = json.loads(ddp[0].read_text())
    assert rec["world_size"] == 2 and rec["ddp_state_checked"] is True
    ref = json.loads(_run(run_cli, tmp_path / "one")[0].read_text())
    for a, b in zip(rec["accuracy_matrix"], ref["accuracy_matrix"], strict=True):
        assert a == pytest.approx(b, abs=0.02)
