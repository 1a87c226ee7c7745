"""CTTA behaviour on real digits (mnist-5k-c): the same source model (same seed, settings and
source phase) scored without adaptation and with each strategy's adaptation."""

from __future__ import annotations

import pytest
from conftest import quick_cfg

from clbench.runner import run

# small: 1 source epoch, two domains where the shift is in the statistics of the input
SMALL = ["train.epochs=1", "backbone.name=convnet", "scenario.corruptions=[brightness,contrast]"]


def _mean_error(strategy: str, results_dir, *extra: str) -> list[float]:
    rec = run(quick_cfg(strategy, "mnist-5k-c", results_dir, *SMALL, *extra)).record
    return rec["metrics"]["domain_error"]


def test_tent_lowers_the_error_of_the_source_model(results_dir):
    source = _mean_error("source", results_dir)
    tent = _mean_error("tent", results_dir)
    # measured (seed 0): source [0.70, 0.90], tent [0.15, 0.41] (all 7 domains: 0.59 -> 0.25)
    assert sum(tent) / 2 < sum(source) / 2 - 0.15, (source, tent)
    assert all(t < s for t, s in zip(tent, source, strict=True)), (source, tent)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="measured: at this scale (16 steps of 64 images per domain, 1-epoch source CNN), VDP "
    "errors 0.706, 0.900 vs source 0.699, 0.900; strict: becomes a failure, to be made a "
    "plain test, once the prompts lower the error",
)
def test_vdp_lowers_the_error_of_the_source_model(results_dir):
    source = _mean_error("source", results_dir)
    vdp = _mean_error(
        "vdp",
        results_dir,
        "strategy.flip=false",  # digits are not mirror-symmetric
        "strategy.n_augmentations=4",
        "strategy.lr=0.01",
        "strategy.ema_momentum=0.9",  # 16 steps per domain: 0.999 would leave the teacher at 0
    )
    assert sum(vdp) < sum(source), (source, vdp)
