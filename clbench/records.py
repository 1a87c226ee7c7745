"""Result records: one JSON file per run, written atomically and never overwritten.

Schema (version 1) is documented in docs/records.md.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from clbench.errors import ClbenchError

SCHEMA_VERSION = 1
REQUIRED_KEYS = (
    "schema_version",
    "run_id",
    "strategy",
    "scenario",
    "seed",
    "config",
    "accuracy_matrix",
    "metrics",
    "costs",
)


def new_run_id(seed: int) -> str:
    """A unique, sortable run id: UTC time, seed and a random suffix."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-s{seed}-{secrets.token_hex(3)}"


def record_path(results_dir: str | Path, scenario: str, strategy: str, run_id: str) -> Path:
    return Path(results_dir) / "runs" / scenario / strategy / f"{run_id}.json"


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that decide a run's numbers."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("clbench", "torch", "lightning", "avalanche-lib", "timm", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def git_commit() -> str | None:
    """The commit of the clbench checkout, with '-dirty' for local changes to anything but the
    committed results (results/: a leaderboard rewritten between runs is not code); None
    outside git."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/", ":!/results"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def command_line() -> list[str]:
    return [Path(sys.argv[0]).name, *sys.argv[1:]]


def check_writable(results_dir: str | Path) -> None:
    """Fail before training, not after, when records cannot be written."""
    path = Path(results_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ClbenchError(f"results folder {path} is not writable: {e.strerror or e}") from None


def umask_mode() -> int:
    """The mode a plain new file gets under the process's umask (0o644 under 022): mkstemp
    makes private 0o600 files, which others on a shared cluster could not read."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_record(record: dict[str, Any], results_dir: str | Path) -> Path:
    """Write `record` to its path atomically; refuses to overwrite an existing record."""
    path = record_path(results_dir, record["scenario"], record["strategy"], record["run_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    os.chmod(tmp, umask_mode())
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=2, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        # link() fails if the target exists: a record is never replaced, even in a race.
        os.link(tmp, path)
    except FileExistsError:
        raise ClbenchError(f"record {path} already exists; not overwriting it") from None
    finally:
        os.unlink(tmp)
    return path


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def problem(data: dict[str, Any]) -> str | None:
    """Why a record with every required key still cannot be tabulated, or None."""
    if not all(isinstance(data[k], str) for k in ("strategy", "scenario", "run_id")):
        return "strategy, scenario and run_id must be strings"
    if not isinstance(data["seed"], int) or isinstance(data["seed"], bool):
        return f"seed {data['seed']!r} is not an integer"
    for key in ("config", "metrics", "costs"):
        if not isinstance(data[key], dict):
            return f"{key} is not an object"
    preset = data["config"].get("preset")
    if preset is not None and not isinstance(preset, str):
        return f"config.preset {preset!r} is not a preset name"
    # scalars may be None (undefined for the run); lists hold per-experience values
    bad = [
        k
        for part in ("metrics", "costs")
        for k, v in data[part].items()
        if not all(x is None or _is_number(x) for x in (v if isinstance(v, list) else [v]))
    ]
    if bad:
        return f"non-numeric metrics or costs: {', '.join(sorted(bad))}"
    m = data["accuracy_matrix"]
    if not isinstance(m, list) or not m or not all(isinstance(row, list) for row in m):
        return "accuracy_matrix is not a non-empty list of rows"
    if len({len(row) for row in m}) != 1 or not all(_is_number(v) for row in m for v in row):
        return "accuracy_matrix is ragged or holds non-numbers"
    rows, cols = len(m), len(m[0])
    checks = [
        ("experience_classes", rows, "rows"),
        ("test_sizes", cols, "columns"),
        ("seen_accuracy", rows, "rows"),
    ]
    for key, want, what in checks:
        if key in data and len(data[key]) != want:
            return f"accuracy_matrix has {want} {what} but {key} has {len(data[key])} entries"
    return None


def load_records(results_dir: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """All valid records under `results_dir`, and one line per file that is not one."""
    root = Path(results_dir)
    if not root.is_dir():
        raise ClbenchError(f"no results folder at {root}")
    records, problems = [], []
    for path in sorted(root.rglob("*.json")):
        # work/: runs in progress; tuning/: tuning studies, tabulated apart (clbench/tuned.py)
        if path.name.startswith(".tmp-") or path.relative_to(root).parts[0] in ("work", "tuning"):
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            problems.append(f"{path}: not a readable JSON record ({e})")
            continue
        if not isinstance(data, dict):
            problems.append(f"{path}: not a clbench record (not a JSON object)")
            continue
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing:
            problems.append(f"{path}: not a clbench record (missing {', '.join(missing)})")
            continue
        if data["schema_version"] != SCHEMA_VERSION:
            problems.append(
                f"{path}: schema_version {data['schema_version']} is not {SCHEMA_VERSION}"
            )
            continue
        why = problem(data)
        if why:
            problems.append(f"{path}: {why}")
            continue
        data["_path"] = str(path)
        records.append(data)
    return records, problems
