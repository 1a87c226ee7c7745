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


@pytest.mark.slow  # six 400-step online runs on 28x28 digits: about a minute alone on 2 cores
@pytest.mark.xfail(
    strict=True,
    reason=(
        "measured with one Adam over the stream (the reference code's; train.optimizer_state="
        "keep), M=200, online split-mnist-5k, seeds 0/1/2: onpro without L_INS 0.830/0.820/"
        "0.868 (mean 0.839; with the code's 16 views 0.794/0.811/0.843) vs replay "
        "0.826/0.837/0.865 (mean 0.843): a tie, not a win, at 80 steps per experience "
        "(CIFAR-10 in the paper: 1,000); remove this marker when it passes"
    ),
)
def test_onpro_beats_online_replay_with_the_same_buffer(results_dir):
    """The paper's claim in small, over three seeds (one seed is within noise either way)."""
    buffer = "strategy.buffer_size=200"
    onpro, replay = [], []
    for seed in ("seed=0", "seed=1", "seed=2"):
        cfg = ["strategy.ins_views=0", seed]
        onpro.append(_final("onpro", "split-mnist-5k", results_dir, buffer, *cfg)[0])
        replay.append(_final("replay", "split-mnist-5k", results_dir, buffer, seed)[0])
    assert sum(onpro) > sum(replay), (onpro, replay)
