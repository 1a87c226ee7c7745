"""Shared helpers: tiny, CPU-only, no-download runs."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"

# Settings every in-process test run uses: CPU, no progress bar.
QUIET = ["trainer.accelerator=cpu", "trainer.progress_bar=false"]


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    return tmp_path / "results"


def quick_cfg(strategy: str, scenario: str, results_dir: Path, *overrides: str):
    from clbench.compose import compose

    return compose(strategy, scenario, None, [*QUIET, f"results.dir={results_dir}", *overrides])


def toy_fscil(strategy: str, *overrides: str, hidden_dim: int = 16):
    """`strategy` on a toy 4-class FSCIL stream of 2x2 inputs (2 base classes with 20 samples
    each, then two 1-way 5-shot sessions), MLP backbone; returns (model, experiences)."""
    import torch
    from torch.utils.data import TensorDataset

    from clbench.compose import compose
    from clbench.stream import Experience, Scenario
    from strategies import STRATEGIES

    torch.manual_seed(0)
    cfg = compose(
        strategy, "fscil-mnist-5k", None, [f"backbone.hidden_dim={hidden_dim}", *overrides]
    )
    scenario = Scenario("toy", 4, (1, 2, 2), [0, 1, 2, 3], None)
    model = STRATEGIES.load(strategy)(cfg, scenario)

    def exp(i: int, classes: list[int], n: int) -> Experience:
        y = torch.tensor(classes).repeat_interleave(n)
        x = torch.randn(len(y), 1, 2, 2) + y.view(-1, 1, 1, 1)
        return Experience(i, classes, TensorDataset(x, y), TensorDataset(x, y))

    return model, [exp(0, [0, 1], 20), exp(1, [2], 5), exp(2, [3], 5)]
