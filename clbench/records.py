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
    """The commit of the clbench checkout, with '-dirty' for local changes; None outside git."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
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


def write_record(record: dict[str, Any], results_dir: str | Path) -> Path:
    """Write `record` to its path atomically; refuses to overwrite an existing record."""
    path = record_path(results_dir, record["scenario"], record["strategy"], record["run_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
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


def load_records(results_dir: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """All valid records under `results_dir`, and one line per file that is not one."""
    root = Path(results_dir)
    if not root.is_dir():
        raise ClbenchError(f"no results folder at {root}")
    records, problems = [], []
    for path in sorted(root.rglob("*.json")):
        if path.name.startswith(".tmp-") or "work" in path.relative_to(root).parts[:1]:
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
        data["_path"] = str(path)
        records.append(data)
    return records, problems
