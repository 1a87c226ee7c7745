"""Sweep executors: where the runs of a sweep (or a tuning study) run, and how a failed run is
reported (its first error line).

`sequential` runs them one after another in this process; `pool` in parallel local processes
(`python -m clbench run ...`); `local` and `slurm` as one submitit job array (`submit` builds
the array's Job objects; the executor then waits for them). Every executor returns one
(exit status, first error line) per run; `report_outcomes` prints the failed ones and gives
the sweep's exit status.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import traceback
from collections.abc import Callable
from contextlib import redirect_stderr
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from omegaconf import DictConfig

from clbench.compose import compose
from clbench.errors import ClbenchError
from clbench.launch import exit_code, run_one


@dataclass(frozen=True)
class Job:
    strategy: str
    scenario: str
    overrides: tuple[str, ...]
    config: str | None = None

    def argv(self) -> list[str]:
        head = ["run", "--strategy", self.strategy, "--scenario", self.scenario]
        return head + (["--config", self.config] if self.config else []) + list(self.overrides)

    def compose(self) -> DictConfig:
        return compose(self.strategy, self.scenario, self.config, list(self.overrides))


def first_error_line(text: str) -> str:
    """The line that says why a run failed: clbench's one-line error, else the exception
    line that closes a traceback, else the last line written."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("clbench: error:"):
            return line
    if any(line.startswith("Traceback") for line in lines):
        start = max(i for i, line in enumerate(lines) if line.startswith("Traceback"))
        closing = [line for line in lines[start + 1 :] if not line[0].isspace()]
        if closing:
            return closing[0]
    return lines[-1] if lines else "no error message"


class _Tee(io.StringIO):
    def __init__(self, through: TextIO) -> None:
        super().__init__()
        self.through = through

    def write(self, s: str) -> int:
        self.through.write(s)
        return super().write(s)


def run_job(job: Job) -> tuple[int, str]:
    """One run, in this process, as `clbench run` would do it (what the sequential executor
    and submitit jobs execute): its exit status and, when it failed, its first error line.
    A crash is this run's failure, not the sweep's."""
    tee = _Tee(sys.stderr)
    try:
        with redirect_stderr(tee):
            code = exit_code(run_one, job.strategy, job.scenario, job.config, list(job.overrides))
    except Exception as e:  # noqa: BLE001 (reported as the run's error line)
        print(traceback.format_exc(), file=sys.stderr)
        return 1, f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}"
    return code, first_error_line(tee.getvalue()) if code else ""


def quiet(job: Job) -> Job:
    """The job without a progress bar (runs in the background write to logs)."""
    return replace(job, overrides=(*job.overrides, "trainer.progress_bar=false"))


Outcomes = list[tuple[int, str]]


def _sequential(jobs: list[Job], workers: int, folder: Path, params: dict[str, Any]) -> Outcomes:
    return [run_job(job) for job in jobs]


def _pool(jobs: list[Job], workers: int, folder: Path, params: dict[str, Any]) -> Outcomes:
    from concurrent.futures import ThreadPoolExecutor

    folder.mkdir(parents=True, exist_ok=True)

    def one(job: Job) -> tuple[int, str]:
        # A process per run: Lightning and torch keep global state. Every option comes
        # before the overrides, as `clbench run` reads them.
        cmd = [sys.executable, "-m", "clbench", *quiet(job).argv()]
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode == 0:
            return 0, ""
        log = folder / f"pool-{hashlib.sha256(' '.join(cmd).encode()).hexdigest()[:12]}.err"
        log.write_text(done.stderr)
        return done.returncode, f"{first_error_line(done.stderr)} (log: {log})"

    with ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(one, jobs))


def submit(
    cluster: str, jobs: list[Job], workers: int, folder: Path, params: dict[str, Any]
) -> list[Any]:
    """The jobs submitted as one submitit array (`cluster`: local or slurm): its Job objects."""
    try:
        import submitit
    except ImportError:
        raise ClbenchError(
            "the local/slurm executors need submitit: pip install submitit"
        ) from None
    ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    ex.update_parameters(**{"timeout_min": 60, **params})
    if cluster == "slurm":
        ex.update_parameters(slurm_array_parallelism=workers)
    submitted = ex.map_array(run_job, [quiet(job) for job in jobs])
    print(f"submitted {len(submitted)} jobs to {cluster}; logs in {folder}")
    return submitted


def _outcome(job: Any) -> tuple[int, str]:
    try:
        code, line = job.result()
        return int(code), line
    except Exception as e:  # noqa: BLE001 (the job died: killed, timed out, lost)
        return 1, f"submitit job {job.job_id}: {first_error_line(str(e))}"


def _submitit(cluster: str) -> Callable[[list[Job], int, Path, dict[str, Any]], Outcomes]:
    def launch(jobs: list[Job], workers: int, folder: Path, params: dict[str, Any]) -> Outcomes:
        return [_outcome(j) for j in submit(cluster, jobs, workers, folder, params)]

    return launch


EXECUTORS: dict[str, Callable[[list[Job], int, Path, dict[str, Any]], Outcomes]] = {
    "sequential": _sequential,
    "pool": _pool,
    "local": _submitit("local"),
    "slurm": _submitit("slurm"),
}


def report_outcomes(what: str, jobs: list[Job], outcomes: Outcomes) -> int:
    """Each failed run with its first error line; the exit status: 0 when every run finished."""
    failed = [(job, line) for job, (code, line) in zip(jobs, outcomes, strict=True) if code != 0]
    for job, line in failed:
        print(f"  failed: clbench {' '.join(job.argv())}\n    {line}", file=sys.stderr)
    print(f"{what}: {len(jobs) - len(failed)} runs finished, {len(failed)} failed")
    return 1 if failed else 0
