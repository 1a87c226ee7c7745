"""What a run reports: the progress it accumulates over the stream, and its record.

`Progress` is everything the record needs that accumulates experience by experience; the
runner saves it with every checkpoint, so a resumed run carries on from it. `costs` and
`assemble` turn a finished run's progress into the record's `costs` and the record itself
(the format is docs/records.md).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from clbench import metrics as M
from clbench import records
from clbench.config import to_dict


@dataclass
class Progress:
    """Everything the record needs that accumulates over the stream; saved after every
    experience with the model, so a resumed run carries on from it."""

    rows: list[list[float]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    fit_time: float = 0.0
    n_trained: int = 0
    elapsed: float = 0.0  # wall time of earlier attempts (resumed runs)
    resumes: int = 0
    eval_time: float = 0.0  # evaluation is paused out of the time-to-result clock
    time_to_target: float | None = None
    experience_time: list[float] = field(default_factory=list)  # hooks, training, evaluation
    experience_memory_mb: list[float] = field(default_factory=list)  # resident, after each
    online_accuracy: list[float | None] = field(default_factory=list)  # `online_accuracy`
    validation_rows: list[list[float]] = field(default_factory=list)  # validation.py
    validation_sizes: list[int] = field(default_factory=list)

    @classmethod
    def from_saved(cls, saved: dict[str, Any]) -> Progress:
        """The progress in a checkpoint (fields it predates keep their defaults)."""
        return cls(**{f.name: saved[f.name] for f in fields(cls) if f.name in saved})


def peak_memory_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def resident_memory_mb() -> float:
    """Current resident memory (Linux /proc); elsewhere the peak."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return peak_memory_mb()
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def costs(
    p: Progress, model: nn.Module, device: torch.device, target: float | None, wall: float
) -> dict[str, Any]:
    """The record's `costs`: times, samples, memory, parameters."""
    costs = {
        "wall_time_s": wall,
        "train_time_s": p.fit_time,
        "train_samples": p.n_trained,
        "train_samples_per_s": p.n_trained / p.fit_time if p.fit_time > 0 else 0.0,
        "eval_time_s": p.eval_time,
        "experience_time_s": p.experience_time,
        "experience_memory_mb": p.experience_memory_mb,
        "target_accuracy": target,
        # training wall time (evaluation paused out) until the target was first reached on
        # the last experience; None: never reached, or no target
        "time_to_target_s": p.time_to_target,
        "peak_memory_mb": peak_memory_mb(),
        "trainable_params": sum(w.numel() for w in model.parameters() if w.requires_grad),
    }
    if torch.cuda.is_available() and device.type == "cuda":
        costs["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return costs


def assemble(
    run_id: str,
    cfg: DictConfig,
    kind: str,
    scenario: Any,
    experiences: list[Any],
    p: Progress,
    world_size: int,
    costs: dict[str, Any],
    fidelity: dict[str, str],
) -> dict[str, Any]:
    """The record of a finished run (docs/records.md)."""
    rows, sizes = p.rows, p.sizes
    record = {
        "schema_version": records.SCHEMA_VERSION,
        "run_id": run_id,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "strategy": cfg.strategy.name,
        "scenario": cfg.scenario.name,
        "kind": kind,
        "seed": cfg.seed,
        "config": to_dict(cfg),
        "versions": records.versions(),
        "git_commit": records.git_commit(),
        "command": records.command_line(),
        "world_size": world_size,
        # under DDP the runner compared every process's strategy state after each experience
        "ddp_state_checked": world_size > 1,
        "resumes": p.resumes,
        "class_order": scenario.class_order,
        # FSCIL: which session lists were used ({"source": "CEC", "sha256": ...}, fscil.py)
        **({"sessions": scenario.info["sessions"]} if "sessions" in scenario.info else {}),
        "experience_classes": [e.classes for e in experiences],
        "test_sizes": sizes,
        "accuracy_matrix": rows,
        "seen_accuracy": M.seen_accuracy(rows, sizes),
        # per experience: accuracy of the predictions made while training on it; null
        # where the strategy makes none
        "online_accuracy": p.online_accuracy,
        "metrics": {
            **M.summarize(rows, sizes),
            **M.kind_metrics(kind, rows, sizes),
            **M.kind_online_metrics(kind, p.online_accuracy),
        },
        "costs": costs,
        "fidelity": dict(fidelity),
    }
    if p.validation_rows:  # only with a validation stream: other records are unchanged
        record["validation"] = validation_block(cfg, p.validation_rows, p.validation_sizes)
    return record


def validation_block(cfg: DictConfig, rows: list[list[float]], sizes: list[int]) -> dict[str, Any]:
    """The record's `validation`: accuracy on the data held out of each experience's
    training data (clbench/validation.py), as the test data's, and what tuning selects on."""
    seen = M.seen_accuracy(rows, sizes)
    return {
        "data": "held out of each experience's training data, per class",
        "fraction": cfg.scenario.validation_fraction,
        "seed": cfg.scenario.get("validation_seed") or 0,
        "sizes": sizes,
        "accuracy_matrix": rows,
        "seen_accuracy": seen,
        "final_accuracy": seen[-1],
        "average_incremental_accuracy": M.average_incremental_accuracy(rows, sizes),
    }
