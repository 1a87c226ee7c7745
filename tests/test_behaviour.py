"""What the baselines are for, shown on the 5,000 real MNIST digits."""

import pytest
from conftest import quick_cfg

from clbench.runner import run

pytestmark = pytest.mark.slow  # behaviour: trains to compare accuracies


def test_replay_beats_finetune_and_joint_bounds_both(results_dir):
    # Fewer epochs than the defaults to keep the suite fast; the gap is large either way.
    final = {}
    for strategy in ("finetune", "replay", "joint"):
        rec = run(
            quick_cfg(strategy, "split-mnist-5k", results_dir, "train.epochs=2", "seed=0")
        ).record
        final[strategy] = rec["metrics"]["final_accuracy"]
    assert final["finetune"] < 0.3, final  # class-IL finetune forgets all but the last classes
    assert final["replay"] >= final["finetune"] + 0.25, final
    assert final["joint"] >= final["replay"] - 0.02, final


def test_replay_reduces_forgetting_on_permuted_mnist(results_dir):
    f = {}
    for strategy in ("finetune", "replay"):
        rec = run(
            quick_cfg(
                strategy,
                "permuted-mnist-5k",
                results_dir,
                "train.epochs=1",
                "scenario.n_experiences=3",
            )
        ).record
        f[strategy] = rec["metrics"]["forgetting"]
    assert f["replay"] < f["finetune"], f
