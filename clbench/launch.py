"""One run as `clbench run` does it, shared by the CLI and the sweep's jobs (so the sweep need
not call back into the CLI): `run_one` composes (or resumes) the config, runs it and prints
the summary; `exit_code` turns clbench's errors and interrupts into one-line messages and
the command's exit status.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clbench.errors import ClbenchError, RunInterrupted


def _fmt_row(values: list[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


def format_summary(record: dict[str, Any], path: Path | None) -> str:
    m, c = record["metrics"], record["costs"]
    lines = [
        f"{record['strategy']} on {record['scenario']} (seed {record['seed']}, run {record['run_id']})",
        f"  accuracy on seen data after each experience: {_fmt_row(record['seen_accuracy'])}",
        f"  final average accuracy {m['final_accuracy']:.4f} | average incremental accuracy "
        f"{m['average_incremental_accuracy']:.4f} | forgetting {m['forgetting']:.4f} | BWT {m['bwt']:.4f}",
        f"  wall time {c['wall_time_s']:.1f} s | {c['train_samples_per_s']:.0f} training samples/s | "
        f"peak memory {c['peak_memory_mb']:.0f} MB | {c['trainable_params']:,} trainable parameters",
    ]
    if path is not None:
        lines.append(f"  record: {path}")
    return "\n".join(lines)


def run_one(
    strategy: str | None,
    scenario: str | None,
    config: str | None,
    overrides: list[str],
    resume: str | None = None,
    print_config: bool = False,
) -> int:
    """`clbench run`: compose (or resume) the config, then print it or run it."""
    from clbench.compose import compose, resume_config
    from clbench.config import to_yaml

    if resume:
        cfg = resume_config(resume, strategy, scenario, config, overrides)
    else:
        cfg = compose(strategy, scenario, config, overrides)
    if print_config:
        print(to_yaml(cfg), end="")
        return 0
    from clbench.runner import run

    result = run(cfg, echo=print, resume=Path(resume) if resume else None)
    if result.path is not None:
        print(format_summary(result.record, result.path))
    return 0


def is_worker_process() -> bool:
    """A DDP process other than the global first (Lightning's launcher sets LOCAL_RANK and
    NODE_RANK for the processes it starts; cluster launchers set RANK): its error is the
    first process's too, which prints it, so the user reads it once."""
    env = os.environ
    ranks = [env.get(k, "0") for k in ("RANK", "LOCAL_RANK", "NODE_RANK")]
    return any(r.strip() not in ("", "0") for r in ranks)


def exit_code(command: Callable[..., int], *args: Any) -> int:
    """`command(*args)`'s status; a ClbenchError is one line on stderr and status 2, an
    interrupt status 130 (with the resume hint when the run saved a state)."""
    try:
        return int(command(*args))
    except ClbenchError as e:
        if not is_worker_process():
            print(f"clbench: error: {e}", file=sys.stderr)
        return 2
    except RunInterrupted as e:
        state = Path(str(e.run_dir)) / "state.pt"
        hint = (
            f"; resume with: clbench run --resume {e.run_dir}"
            if state.exists()
            else "; no experience had finished"
        )
        print(f"clbench: interrupted{hint}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("clbench: interrupted", file=sys.stderr)
        return 130
