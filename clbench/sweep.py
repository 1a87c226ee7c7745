"""`clbench sweep FILE`: a grid of runs (strategies x scenarios x seeds x settings), run one
after another, in a local process pool, or as a SLURM job array through submitit.

Runs whose record is already in the results folder are skipped, so a sweep that died can
simply be started again. Every run of the grid is composed (and so validated) before any
starts. The sweep file (YAML):

    strategies: [finetune, replay]
    scenarios: [split-mnist-5k]
    seeds: [0, 1, 2]
    grid:                       # optional: every combination of these values
      train.lr: [0.01, 0.1]
    overrides: [train.epochs=5] # optional: the same for every run
    config: base.yaml           # optional: a config file for every run
    executor_params: {}         # optional: passed to submitit's update_parameters
                                # (e.g. slurm_partition, timeout_min, gpus_per_node)
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from clbench.config import load_mapping, to_dict
from clbench.errors import ClbenchError
from clbench.executors import EXECUTORS, Job, report_outcomes, run_job  # noqa: F401 (re-exported)

KEYS = {"strategies", "scenarios", "seeds", "grid", "overrides", "config", "executor_params"}
# Settings that do not change a run's numbers: two runs differing only here are the same run.
PRESENTATION = (
    "results.dir",
    "trainer.progress_bar",
    "trainer.log_every_n_steps",
    "data.root",
    "data.download",
)


def run_key(config: dict[str, Any]) -> str:
    """Identifies a run by its resolved config, leaving out presentation-only settings and
    null ones (not used: a record older than an optional setting is the same run)."""
    cfg = _without_nulls(json.loads(json.dumps(config)))
    for dotted in PRESENTATION:
        *parents, leaf = dotted.split(".")
        node = cfg
        for p in parents:
            node = node.get(p, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()


def _without_nulls(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _without_nulls(v) for k, v in tree.items() if v is not None}
    return tree


def _as_list(spec: DictConfig, key: str, required: bool) -> list[Any]:
    value = spec.get(key)
    if value is None:
        if required:
            raise ClbenchError(f"sweep file needs '{key}' (a list)")
        return []
    return list(value) if OmegaConf.is_list(value) else [value]


def expand(
    path: str | Path, extra: list[str] | tuple[str, ...] = ()
) -> tuple[list[Job], dict[str, Any]]:
    """The runs of a sweep file, and its executor parameters."""
    spec = load_mapping(path, "sweep file")
    unknown = sorted(set(spec.keys()) - KEYS)
    if unknown:
        raise ClbenchError(
            f"unknown key '{unknown[0]}' in sweep file {path}; valid: {', '.join(sorted(KEYS))}"
        )
    grid = spec.get("grid") or {}
    names = list(grid.keys())
    combos = list(itertools.product(*[_as_list(grid, k, True) for k in names])) or [()]
    fixed = [str(o) for o in _as_list(spec, "overrides", False)] + list(extra)
    config = str(spec.config) if spec.get("config") else None
    jobs = [
        Job(
            strategy,
            scenario,
            (
                *fixed,
                f"seed={seed}",
                *(f"{k}={json.dumps(v)}" for k, v in zip(names, combo, strict=True)),
            ),
            config,
        )
        for strategy, scenario, seed, combo in itertools.product(
            _as_list(spec, "strategies", True),
            _as_list(spec, "scenarios", True),
            _as_list(spec, "seeds", True) or [0],
            combos,
        )
    ]
    params = OmegaConf.to_container(spec.executor_params) if spec.get("executor_params") else {}
    return jobs, dict(params)  # type: ignore[arg-type]


def pending(jobs: list[Job]) -> tuple[list[Job], int]:
    """The jobs without a record yet (each job's config is composed, so errors come first)."""
    from clbench.records import load_records

    by_dir: dict[str, set[str]] = {}
    todo, done = [], 0
    for job in jobs:
        cfg = job.compose()
        results = str(cfg.results.dir)
        if results not in by_dir:
            recs = load_records(results)[0] if Path(results).is_dir() else []
            by_dir[results] = {run_key(r["config"]) for r in recs}
        if run_key(to_dict(cfg)) in by_dir[results]:
            done += 1
        else:
            todo.append(job)
    return todo, done


def sweep(
    path: str | Path,
    executor: str,
    workers: int,
    dry_run: bool,
    extra: list[str] | tuple[str, ...] = (),
) -> int:
    if executor not in EXECUTORS:
        raise ClbenchError(f"unknown executor '{executor}'; valid: {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ClbenchError(f"--workers must be >= 1, got {workers}")
    jobs, params = expand(path, extra)
    todo, done = pending(jobs)
    print(
        f"sweep {path}: {len(jobs)} runs, {done} already in the results folder, {len(todo)} to run"
    )
    if dry_run or not todo:
        for job in todo:
            print("  clbench " + " ".join(job.argv()))
        return 0
    folder = Path(str(todo[0].compose().results.dir)) / "sweeps"
    return report_outcomes(str(path), todo, EXECUTORS[executor](todo, workers, folder, params))
