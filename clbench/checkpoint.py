"""Per-experience run state, so that a run killed at experience k resumes at experience k.

The state file holds only tensors, numbers, strings, lists and dicts, and is read with
`torch.load(weights_only=True)`: loading a checkpoint never unpickles arbitrary objects.
The optimizer's state is saved when the run keeps it across experiences
(`train.optimizer_state=keep`, clbench/optim.py); under reset nothing of it outlives an
experience, so nothing is saved.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clbench.errors import ClbenchError
from clbench.records import umask_mode

STATE_FILE = "state.pt"
# What every saved state holds (runner.py writes them after each experience).
REQUIRED = ("run_id", "model", "rows", "rng", "elapsed")
CONFIG_FILE = "config.yaml"
FORMAT = 1


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) generator states, as safe-to-load values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": list(random.getstate()[1]) + [random.getstate()[0]],
        "python_gauss": random.getstate()[2],
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": pos,
            "has_gauss": has_gauss,
            "gauss": gauss,
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[-1], tuple(py[:-1]), state["python_gauss"]))
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(run_dir: Path, state: dict[str, Any]) -> Path:
    """Write the state atomically: a crash while saving leaves the previous state intact."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".tmp-", suffix=".pt")
    os.close(fd)
    os.chmod(tmp, umask_mode())
    try:
        torch.save({"format": FORMAT, **state}, tmp)
        os.replace(tmp, run_dir / STATE_FILE)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return run_dir / STATE_FILE


def load(run_dir: Path) -> dict[str, Any] | None:
    """The saved state of a run folder; None when no experience has finished yet."""
    path = run_dir / STATE_FILE
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a damaged file is the user's to know about
        raise ClbenchError(
            f"checkpoint {path} is not a readable clbench state file "
            "(torch.load cannot read it); "
            "delete it to restart the run from its beginning"
        ) from None
    if not isinstance(state, dict):
        raise ClbenchError(f"checkpoint {path} is not a clbench state file")
    if state.get("format") != FORMAT:
        raise ClbenchError(f"checkpoint {path} has format {state.get('format')}, expected {FORMAT}")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise ClbenchError(
            f"checkpoint {path} is damaged (missing {', '.join(missing)}); "
            "delete it to restart the run from its beginning"
        )
    return state
