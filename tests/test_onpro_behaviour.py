"""OnPro on real digits, online (one pass, stream batch 10)."""

import pytest
from conftest import quick_cfg

from clbench.runner import run

ONLINE = ["scenario.online=true", "scenario.batch_size=10", "seed=0"]


def _final(strategy, scenario, results_dir, *overrides):
    rec = run(quick_cfg(strategy, scenario, results_dir, *ONLINE, *overrides)).record
    return rec["metrics"]["final_accuracy"], rec["metrics"]["forgetting"]


@pytest.mark.slow  # about 10 s alone on 2 cores; an xfail, kept out of the default run
@pytest.mark.xfail(
    strict=True,
    reason=(
        "measured (seed 0): onpro 0.328 final vs finetune 0.100: with ~29 steps per "
        "experience the newest classes are barely learned (CE on the memory batch only, as "
        "the reference code assembles it); remove this marker when it passes"
    ),
)
def test_onpro_beats_online_finetune_on_split_digits(results_dir):
    # Small and fast: 8x8 digits, no L_INS views, a small memory batch.
    onpro, onpro_fgt = _final(
        "onpro",
        "split-digits",
        results_dir,
        "strategy.buffer_size=200",
        "strategy.ins_views=0",
        "strategy.mem_batch_size=32",
    )
    finetune, finetune_fgt = _final("finetune", "split-digits", results_dir)
    assert onpro >= finetune + 0.25, (onpro, finetune)
    assert onpro_fgt < finetune_fgt, (onpro_fgt, finetune_fgt)


@pytest.mark.heavy  # six 400-step online runs on 28x28 digits: about a minute alone on 2 cores
def test_onpro_ties_online_replay_with_the_same_buffer(results_dir):
    """The paper's claim (OnPro beats ER at the same buffer) in small, over three seeds. With one
    Adam over the stream (the reference code's), OnPro without L_INS ties online replay at this
    scale (80 steps per experience; CIFAR-10 in the paper: 1,000): with one torch thread
    0.830/0.820/0.868 vs 0.826/0.837/0.865, and the sign of the gap changes with the thread
    count. So this checks the tie, a mean gap under 0.02, which fails where OnPro does not learn
    the newest classes (with a fresh Adam per experience it ended 0.10 below replay).
    docs/strategies/onpro.md has the figures."""
    buffer = "strategy.buffer_size=200"
    onpro, replay = [], []
    for seed in ("seed=0", "seed=1", "seed=2"):
        cfg = ["strategy.ins_views=0", seed]
        onpro.append(_final("onpro", "split-mnist-5k", results_dir, buffer, *cfg)[0])
        replay.append(_final("replay", "split-mnist-5k", results_dir, buffer, seed)[0])
    assert abs(sum(onpro) - sum(replay)) / 3 < 0.02, (onpro, replay)
