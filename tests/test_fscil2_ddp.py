"""2-process CPU DDP runs of fscil-tricks (all tricks on) and fast-slow on fscil-mnist-5k:
the runner's state check passes (same state on both processes) and the numbers are those of
one process up to float summation order and per-process SupCon/mixup batches."""

import pytest
from test_fscil_ddp import _check


@pytest.mark.heavy
def test_fscil_tricks_all_on_two_processes(tmp_path, run_cli):
    on = [f"strategy.{t}=true" for t in ("supcon", "etf", "pseudo_classes", "subnet", "rotation")]
    ddp, one = _check(run_cli, tmp_path, "fscil-tricks", 0.1, "train.epochs=1", *on)
    assert ddp["ddp_state_checked"] and ddp["fidelity"] == one["fidelity"]


@pytest.mark.heavy
def test_fast_slow_two_processes(tmp_path, run_cli):
    ddp, one = _check(
        run_cli, tmp_path, "fast-slow", 0.05, "train.epochs=1", "strategy.inc_epochs=2"
    )
    assert ddp["ddp_state_checked"]


def test_state_fingerprint_hashes_zero_dim_tensors():
    """0-dim counters (a session count, batch-norm's num_batches_tracked) hash by value."""
    import torch

    from clbench.runner import state_fingerprint

    def fp(v):
        return state_fingerprint({"n": torch.tensor(v, dtype=torch.long)})

    assert fp(1) == fp(1) != fp(2)
