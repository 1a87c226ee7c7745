"""The tuned leaderboard: one row per tuning study under <results>/tuning/ (clbench/tune.py).

A row says the study's budget (trials x studies, the same for every strategy it is compared
with), its picks, the accuracy of the picks re-run on the test stream (mean ± std over
studies x seeds), and for each held-out variant its accuracy and the drop from tuned to
held-out. Time-to-target is the median over studies of each pick's median over seeds; with
`with_tuning_cost` it adds the study's tuning wall time (all its trials), as AlgoPerf counts
a submission's tuning. The performance profile over tuned results (AlgoPerf Sec. 4.5) is
computed, and drawn, as the plain leaderboard's (clbench/leaderboard.py, clbench/profiles.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clbench.experiments import flatten
from clbench.leaderboard import _plot_profile, profile_summary
from clbench.records import load_records

TUNED_PROFILE_PLOT = "tuned-performance-profile.png"


def _records(folder: Path) -> list[dict[str, Any]]:
    return load_records(folder)[0] if folder.is_dir() else []


def load_studies(root: str | Path) -> list[dict[str, Any]]:
    """Every study under `root`/tuning, with its `final` and `heldout` {variant: records}."""
    studies = []
    for path in sorted(Path(root).glob("tuning/*/study.json")):
        study = json.loads(path.read_text())
        folder = path.parent
        study["name"] = folder.name
        study["final"] = _records(folder / "final")
        study["heldout"] = {v: _records(folder / "heldout" / v) for v in study.get("variants", {})}
        studies.append(study)
    return studies


def _of_pick(records: list[dict[str, Any]], values: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in records if all(flatten(r["config"]).get(k) == v for k, v in values.items())]


def _accuracy(records: list[dict[str, Any]]) -> tuple[float, float]:
    acc = [r["metrics"]["final_accuracy"] for r in records]
    return (float(np.mean(acc)), float(np.std(acc))) if acc else (np.nan, np.nan)


def time_to_target(study: dict[str, Any], with_tuning_cost: bool) -> float:
    """Median over studies of (tuning wall time, if asked, +) the pick's median time to
    target over seeds; inf when a pick never reached the target, NaN without a timed run."""
    times = []
    for p in study.get("picks", []):
        recs = _of_pick(study["final"], p["values"])
        if not recs or all(r["costs"].get("target_accuracy") is None for r in recs):
            continue  # no run, or no target: not timed
        t = [r["costs"].get("time_to_target_s") for r in recs]
        median = float(np.median([np.inf if x is None else x for x in t]))
        times.append(median + (p["tuning_wall_time_s"] if with_tuning_cost else 0.0))
    return float(np.median(times)) if times else np.nan


def tuned_frame(studies: list[dict[str, Any]], with_tuning_cost: bool = False) -> pd.DataFrame:
    """One row per study: scenario, strategy, budget, picks, tuned and held-out accuracy."""
    rows = []
    for s in studies:
        picks = s.get("picks", [])
        finals = [r for p in picks for r in _of_pick(s["final"], p["values"])]
        mean, std = _accuracy(finals)
        b = s["budget"]
        row = {
            "scenario": s["scenario"],
            "strategy": s["strategy"],
            "budget": f"{b['trials']} trials x {b['studies']} studies",
            "picks": "; ".join(
                ", ".join(f"{k.split('.')[-1]}={v:.3g}" for k, v in p["values"].items())
                for p in picks
            ),
            "runs": len(finals),
            "accuracy": mean,
            "accuracy_std": std,
            "time_to_target_s": time_to_target(s, with_tuning_cost),
            "study": s["name"],
        }
        for variant, recs in s["heldout"].items():
            held = _accuracy([r for p in picks for r in _of_pick(recs, p["values"])])[0]
            row[f"held-out {variant}"] = held
            row[f"drop {variant}"] = mean - held
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "–" if np.isnan(v) else ("∞" if np.isinf(v) else f"{v:.4f}")
    return str(v)


def render_tuned(
    root: str | Path, with_tuning_cost: bool = False, plots_dir: Path | None = None
) -> str:
    """The tuned leaderboard as Markdown ("" when `root` holds no study); with `plots_dir`,
    the tuned performance profile is drawn there too."""
    from tabulate import tabulate

    studies = load_studies(root)
    if not studies:
        return ""
    frame = tuned_frame(studies, with_tuning_cost)
    cost = "tuning wall time included" if with_tuning_cost else "tuning not counted"
    out = [
        "",
        "## Tuned (clbench tune: picked on validation data, re-run on the test stream)",
        "",
        "Budget = trials per study x studies, the same for the strategies compared; accuracy:",
        "final accuracy of the picks on the test stream, mean ± std over studies x seeds;",
        f"held-out: the picks on variants they were not tuned on, drop = tuned − held-out; "
        f"time to target: median over studies ({cost}).",
    ]
    for scenario, part in frame.groupby("scenario", sort=True):
        # the held-out variants of this scenario's studies (other scenarios have others)
        extra = [
            c
            for c in part.columns
            if c.startswith(("held-out ", "drop ")) and part[c].notna().any()
        ]
        headers = ["strategy", "budget", "picks", "runs", "accuracy", "time to target (s)"]
        body = [
            [r["strategy"], r["budget"], r["picks"], str(r["runs"])]
            + [f"{_fmt(r['accuracy'])} ± {_fmt(r['accuracy_std'])}", _fmt(r["time_to_target_s"])]
            + [_fmt(r[c]) for c in extra]
            for _, r in part.iterrows()
        ]
        out += ["", f"### {scenario}", ""]
        if part["budget"].nunique() > 1:
            out += ["**Budgets differ between these rows: not a fair comparison.**", ""]
        out.append(tabulate(body, headers + extra, tablefmt="github", disable_numparse=True))
    times = frame.pivot_table(
        index="strategy", columns="scenario", values="time_to_target_s", aggfunc="median"
    )
    if times.notna().any().any():
        summary = profile_summary(times)
        out += ["", "### Performance profile over tuned results (time to target)", ""]
        body = [[s, f"{r['score']:.3f}", str(int(r["within"]))] for s, r in summary.iterrows()]
        out.append(tabulate(body, ["strategy", "score", "within 4x"], tablefmt="github"))
        if plots_dir is not None:
            plots_dir.mkdir(parents=True, exist_ok=True)
            _plot_profile(times, plots_dir / TUNED_PROFILE_PLOT)
    return "\n".join(out) + "\n"
