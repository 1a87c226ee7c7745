"""OnPro under 2-process DDP (CPU, gloo): the per-batch reservoir buffer and the weights agree
across processes after every experience (the runner checks), and the numbers match one
process, since every process computes the gathered global step."""

import json

import pytest
from test_ddp import _run

ONPRO = [
    "scenario.online=true",
    "scenario.batch_size=10",
    "strategy.buffer_size=100",
    "strategy.ins_views=1",
    "strategy.mem_batch_size=32",
]


@pytest.mark.heavy
def test_onpro_two_processes_match_one(tmp_path, monkeypatch, run_cli):
    import test_ddp

    # options first: argparse takes the key=value overrides as one positional run
    base = ["--strategy", "onpro", "--scenario", "split-digits", "seed=2"]
    base += ["trainer.accelerator=cpu"]
    base += ["trainer.progress_bar=false", *ONPRO]
    monkeypatch.setattr(test_ddp, "ARGS", base)
    ddp = _run(run_cli, tmp_path / "ddp", "trainer.devices=2", "trainer.strategy=ddp")
    rec = json.loads(ddp[0].read_text())
    assert rec["world_size"] == 2 and rec["ddp_state_checked"] is True
    ref = json.loads(_run(run_cli, tmp_path / "one")[0].read_text())
    for a, b in zip(rec["accuracy_matrix"], ref["accuracy_matrix"], strict=True):
        assert a == pytest.approx(b, abs=0.02)
