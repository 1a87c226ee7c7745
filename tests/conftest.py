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
    from clbench.config import compose

    return compose(strategy, scenario, None, [*QUIET, f"results.dir={results_dir}", *overrides])
