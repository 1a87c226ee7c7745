"""`clbench tune`: fair tuning studies (AlgoPerf's external tuning, Dahl et al. 2023, Sec. 5).

A tuning of one strategy on one scenario is K studies of N trials (the budget N x K, the
same for every strategy of a comparison); each trial is a run with values drawn by seeded
quasi-random search from the strategy's declared space (clbench/search.py), trained on the
training data less a validation stream held out of it (clbench/validation.py). Per study
the trial with the best final validation accuracy is picked (ties: the earlier trial): test
data never enter the choice. The picks are then re-run on the test stream over seeds (the
tuned numbers) and on held-out variants they were not tuned on (another class order, number
of experiences, shot draw). All of it lives in <results.dir>/tuning/<name>/: study.json
(settings, draws, picks) and the results folders trials/, final/, heldout/<variant>/. Runs
go through the sweep executors and a run whose record exists is skipped: a stopped study
resumes where it stopped. OUR CHOICES: the trials of study k use run seed k; the picks are
re-run on the full training data; the default variants below.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from clbench.compose import compose
from clbench.config import to_dict
from clbench.errors import ClbenchError
from clbench.executors import EXECUTORS, Job, report_outcomes
from clbench.records import load_records
from clbench.search import check_space, draw, parse_range
from clbench.sweep import pending, run_key

SELECTED_ON = "validation.final_accuracy"  # the record's key tuning picks by
SETTINGS = ("strategy", "scenario", "overrides", "space", "budget", "sobol", "validation")


def default_variants(scenario: Any) -> dict[str, list[str]]:
    """Held-out variants of a scenario's config: another class order, another number of
    experiences (half if even, else double), another shot draw or permutation seed."""
    out: dict[str, list[str]] = {}
    if "class_order_seed" in scenario and scenario.get("class_order") is None:
        out["class-order"] = [f"scenario.class_order_seed={(scenario.class_order_seed or 0) + 1}"]
    if "n_experiences" in scenario:
        n = int(scenario.n_experiences)
        out["experiences"] = [
            f"scenario.n_experiences={n // 2 if n % 2 == 0 and n >= 4 else 2 * n}"
        ]
    for key in ("shot_seed", "episode_seed", "permutation_seed"):
        if key in scenario:
            out[key.replace("_", "-")] = [f"scenario.{key}={(scenario.get(key) or 0) + 1}"]
    return out


def pick(scores: list[float | None]) -> int | None:
    """The trial with the best validation score (the earlier one on ties); None if none ran."""
    ran = [(s, -i) for i, s in enumerate(scores) if s is not None]
    return -max(ran)[1] if ran else None


def validation_score(record: dict[str, Any] | None) -> float | None:
    """What a trial is selected by: its final validation accuracy (never test data)."""
    if record is None or "validation" not in record:
        return None
    return float(record["validation"]["final_accuracy"])


def plan_study(
    strategy: str,
    scenario: str,
    overrides: list[str],
    trials: int,
    studies: int,
    seed: int,
    fraction: float,
    space_ranges: list[str],
) -> dict[str, Any]:
    """The study's settings and draws (study.json without its picks)."""
    from strategies import STRATEGIES

    if trials < 1 or studies < 1:
        raise ClbenchError(f"--trials and --studies must be >= 1, got {trials} and {studies}")
    if not 0 < fraction < 1:
        raise ClbenchError(f"--validation-fraction must be in (0, 1), got {fraction}")
    declared = dict(getattr(STRATEGIES.load(strategy), "search_space", {}))
    space = check_space({**declared, **dict(map(parse_range, space_ranges))}, f"tune {strategy}")
    fixed = [o for o in overrides if o.split("=")[0] in space]
    if fixed:
        raise ClbenchError(f"{fixed[0].split('=')[0]} is tuned; leave it out of the settings")
    kept = [o for o in overrides if not o.startswith("results.dir=")]
    return {
        "strategy": strategy,
        "scenario": scenario,
        "overrides": kept,
        "space": {k: list(v) for k, v in space.items()},
        "budget": {"trials": trials, "studies": studies, "total": trials * studies},
        "sobol": {"seed": seed, "scramble": True, "study_seed": "seed * 1000 + study"},
        "validation": {"fraction": fraction, "seed": 0, "selected_on": SELECTED_ON},
        "draws": [draw(space, trials, seed, k) for k in range(studies)],
    }


def _values(values: dict[str, Any]) -> list[str]:
    return [f"{k}={json.dumps(v)}" for k, v in sorted(values.items())]


def _open_study(folder: Path, plan: dict[str, Any]) -> dict[str, Any]:
    path = folder / "study.json"
    if path.exists():
        saved = json.loads(path.read_text())
        changed = [k for k in (*SETTINGS, "draws") if saved.get(k) != plan.get(k)]
        if changed:
            raise ClbenchError(
                f"study {folder} was started with other settings ({changed[0]}); "
                "give another --name or delete it"
            )
        return saved
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan, indent=1) + "\n")
    return plan


def _run(jobs: list[Job], what: str, executor: str, workers: int, logs: Path) -> int:
    unique = list(dict.fromkeys(jobs))  # identical picks are one run
    todo, done = pending(unique)
    print(f"{what}: {len(unique)} runs, {done} already done, {len(todo)} to run")
    if not todo:
        return 0
    return report_outcomes(what, todo, EXECUTORS[executor](todo, workers, logs, {}))


def _records(folder: Path) -> dict[str, dict[str, Any]]:
    if not folder.is_dir():
        return {}
    return {run_key(r["config"]): r for r in load_records(folder)[0]}


def tune(
    strategy: str,
    scenario: str,
    trials: int,
    studies: int,
    executor: str = "sequential",
    workers: int = 2,
    overrides: list[str] | tuple[str, ...] = (),
    seed: int = 0,
    fraction: float = 0.2,
    final_seeds: list[int] | tuple[int, ...] = (0, 1, 2),
    variants: dict[str, list[str]] | None = None,
    space_ranges: list[str] | tuple[str, ...] = (),
    name: str | None = None,
) -> int:
    """Run (or resume) a tuning study; 0 when every study picked a trial and every run of
    the picks finished."""
    if executor not in EXECUTORS:
        raise ClbenchError(f"unknown executor '{executor}'; valid: {', '.join(EXECUTORS)}")
    base = compose(strategy, scenario, None, list(overrides))
    plan = plan_study(
        strategy, scenario, list(overrides), trials, studies, seed, fraction, list(space_ranges)
    )
    plan["final_seeds"] = list(final_seeds)
    plan["variants"] = default_variants(base.scenario) if variants is None else variants
    digest = hashlib.sha256(
        json.dumps({k: plan[k] for k in SETTINGS}, sort_keys=True).encode()
    ).hexdigest()
    folder = (
        Path(str(base.results.dir)) / "tuning" / (name or f"{strategy}_{scenario}_{digest[:8]}")
    )
    study = _open_study(folder, plan)
    study.update(final_seeds=plan["final_seeds"], variants=plan["variants"])
    head = [*plan["overrides"]]

    def job(where: str, *more: str) -> Job:
        return Job(strategy, scenario, (*head, f"results.dir={folder / where}", *more))

    grid = [
        [
            job(
                "trials",
                f"scenario.validation_fraction={fraction}",
                f"seed={k}",
                *_values(t["values"]),
            )
            for t in draws
        ]
        for k, draws in enumerate(study["draws"])
    ]
    logs = folder / "logs"
    # a failed trial (e.g. diverged at a high lr) is listed and lost budget, not an error
    trial_jobs = [j for row in grid for j in row]
    _run(trial_jobs, f"tuning {folder.name}", executor, workers, logs)
    found = _records(folder / "trials")
    study["picks"] = []
    for k, row in enumerate(grid):
        recs = [found.get(run_key(to_dict(j.compose()))) for j in row]
        best = pick([validation_score(r) for r in recs])
        if best is None:
            print(f"study {k}: no trial finished; nothing to pick")
            continue
        study["picks"].append(
            {
                "study": k,
                "trial": best,
                "values": study["draws"][k][best]["values"],
                "validation_final_accuracy": validation_score(recs[best]),
                "trials_finished": sum(r is not None for r in recs),
                "tuning_wall_time_s": sum(r["costs"]["wall_time_s"] for r in recs if r),
            }
        )
        print(f"study {k}: picked trial {best} {study['picks'][-1]['values']}")
    (folder / "study.json").write_text(json.dumps(study, indent=1) + "\n")
    finals = [
        job(where, *_values(p["values"]), f"seed={s}", *extra)
        for where, extra in [
            ("final", []),
            *((f"heldout/{v}", o) for v, o in study["variants"].items()),
        ]
        for p in study["picks"]
        for s in study["final_seeds"]
    ]
    status = _run(finals, f"tuned runs of {folder.name}", executor, workers, logs)
    print(f"study folder: {folder}")
    return 1 if status or len(study["picks"]) < studies else 0
