"""Shared helpers: tiny, CPU-only, no-download runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"

# Settings every in-process test run uses: CPU, no progress bar.
QUIET = ["trainer.accelerator=cpu", "trainer.progress_bar=false"]


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    return tmp_path / "results"


# Set by a DDP launcher or a run in progress; a child `clbench run` must not inherit them.
_RUN_VARS = ("LOCAL_RANK", "WORLD_SIZE", "CLBENCH_RUN_ID")


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a child clbench: without the run variables above, with
    the repo root first on PYTHONPATH (the child imports the code under test, whatever its
    working folder or installed copy), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in _RUN_VARS}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return {**env, **(extra or {})}


class CLI:
    """`python -m clbench ARGS` in a subprocess: `run_cli(*args)` waits and returns the
    CompletedProcess (text, output captured); `run_cli.popen(*args)` starts it and returns
    the Popen. `env` adds variables to `cli_env()`."""

    @staticmethod
    def argv(*args) -> list[str]:
        return [sys.executable, "-m", "clbench", *map(str, args)]

    def __call__(
        self, *args, cwd=None, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(*args),
            cwd=cwd,
            env=cli_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *args, cwd=None, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), cwd=cwd, env=cli_env(env), text=True, **kw)


@pytest.fixture
def run_cli() -> CLI:
    """The one way tests run the command line in a subprocess (see CLI)."""
    return CLI()


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


def pytest_collection_modifyitems(config, items):
    """A heavy test is slow too: `-m "not slow"` (the edit loop) leaves it out as well."""
    for item in items:
        if item.get_closest_marker("heavy") is not None:
            item.add_marker(pytest.mark.slow)
