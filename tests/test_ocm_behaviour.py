"""OCM on real digits, online (one pass, stream batch 10): the paper's claim in small."""

import pytest
from conftest import quick_cfg

from clbench.runner import run

ONLINE = ["scenario.online=true", "scenario.batch_size=10", "strategy.buffer_size=200"]


def _final(strategy, results_dir, *overrides):
    cfg = quick_cfg(strategy, "split-mnist-5k", results_dir, *ONLINE, *overrides)
    return run(cfg).record["metrics"]["final_accuracy"]


@pytest.mark.heavy  # six 400-step online runs on 28x28 digits: several minutes on 2 cores
def test_ocm_beats_online_replay_with_the_same_buffer(results_dir):
    """OCM beats ER at the same buffer (the paper's tables), over three seeds. Measured, one
    torch thread, 4 pseudo-classes (for time; the default 16 gives 0.873/0.878/0.872):
    see docs/strategies/ocm.md; online replay 0.826/0.837/0.865."""
    ocm, replay = [], []
    for seed in ("seed=0", "seed=1", "seed=2"):
        ocm.append(_final("ocm", results_dir, "strategy.ins_views=4", seed))
        replay.append(_final("replay", results_dir, seed))
    assert sum(ocm) / 3 > sum(replay) / 3 + 0.01, (ocm, replay)
    assert sum(o > r for o, r in zip(ocm, replay, strict=True)) >= 2, (ocm, replay)
