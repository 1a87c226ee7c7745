"""Leaderboard tables (Markdown, CSV, LaTeX) and plots from result records.

Per scenario, one row per experiment (clbench/experiments.py: a strategy and every setting
that can change its numbers): mean ± std over seeds and the seed count. Then the cost
view (time-to-result, throughput, memory) per scenario, and performance profiles of
time-to-result across scenarios (clbench/profiles.py), each experiment over the scenarios it
applies to: those of the kinds (class-il, fscil, ...) it has records on.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clbench import paper_table, profiles
from clbench.errors import ClbenchError
from clbench.experiments import label_experiments

# (record key, column title); metrics first, then costs
METRICS = [
    ("final_accuracy", "final accuracy"),
    ("average_incremental_accuracy", "avg. incremental accuracy"),
    ("forgetting", "forgetting"),
    ("bwt", "BWT"),
]
# Extra columns for scenarios of a kind, after METRICS (keys of the record's `metrics`)
KIND_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "fscil": [
        ("performance_drop", "PD"),
        ("final_base_accuracy", "final base acc."),
        ("final_novel_accuracy", "final novel acc."),
        ("final_harmonic_mean", "final harmonic mean"),
    ],
    # online: predicted before adapting on each batch (the CTTA papers' metric); offline:
    # after adapting on the whole domain (1 - A[i][i])
    "ctta": [("online_mean_error", "online mean error"), ("mean_error", "mean error")],
}
COSTS = [("wall_time_s", "wall time (s)"), ("train_samples_per_s", "train samples/s")]
# The cost view: (runs_frame column, title)
COST_VIEW = [
    ("train_samples_per_s", "train samples/s"),
    ("peak_memory_mb", "peak memory (MB)"),
    ("wall_time_s", "wall time (s)"),
]
FORMATS = ("md", "csv", "latex")


def labelled(records: Iterable[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(row label, record) for every record, a seed recorded twice in one experiment once."""
    records = list(records)
    return [
        (label, r)
        for r, (_, label, dup) in zip(records, label_experiments(records), strict=True)
        if not dup
    ]


def duplicates(records: Iterable[dict[str, Any]]) -> list[str]:
    """One line per record left out as a repeated seed of its experiment."""
    records = list(records)
    return [
        f"{r.get('_path', r.get('run_id'))}: {label} on {r['scenario']}: {dup}; counted once"
        for r, (_, label, dup) in zip(records, label_experiments(records), strict=True)
        if dup
    ]


def runs_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per record (a repeated seed of an experiment once): scenario, kind, the
    experiment's label (column `strategy`), seed, metrics and costs."""
    rows = []
    records = list(records)
    repeated = {}
    for r, (_, label, dup) in zip(records, label_experiments(records), strict=True):
        if dup:
            repeated.setdefault((r["scenario"], label), set()).add(r["seed"])
    for label, r in labelled(records):
        row = {
            "scenario": r["scenario"],
            "kind": r.get("kind", ""),
            "strategy": label,
            "seed": r["seed"],
            "repeated_seeds": ",".join(
                str(x) for x in sorted(repeated.get((r["scenario"], label), ()))
            ),
        }
        row.update({k: r["metrics"].get(k, np.nan) for k, _ in METRICS})
        # None (a metric undefined for this run) becomes NaN, shown as "–"
        row.update({k: _number(r["metrics"].get(k)) for k, _ in KIND_COLUMNS.get(row["kind"], [])})
        row.update({k: r["costs"].get(k, np.nan) for k, _ in COSTS + COST_VIEW})
        row["target_accuracy"] = _number(r["costs"].get("target_accuracy"))
        row["time_to_target_s"] = _time_to_target(r["costs"])
        rows.append(row)
    return pd.DataFrame(rows)


def _time_to_target(costs: dict[str, Any]) -> float:
    """inf: a target was set and never reached; NaN: no target, or a record older than the
    time-to-result field."""
    if costs.get("target_accuracy") is None or "time_to_target_s" not in costs:
        return np.nan
    t = costs["time_to_target_s"]
    return np.inf if t is None else float(t)


def _number(value: Any) -> float:
    return np.nan if value is None else float(value)


def _metric_columns(kinds: Iterable[str]) -> list[tuple[str, str]]:
    """METRICS, then the extra columns of each kind in `kinds` (once each)."""
    cols = list(METRICS)
    for kind in kinds:
        cols += [c for c in KIND_COLUMNS.get(kind, []) if c not in cols]
    return cols


def summary_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and seed count per (scenario, strategy), best final accuracy first."""
    keys = [k for k, _ in _metric_columns(sorted(set(runs["kind"]))) + COSTS]
    g = runs.groupby(["scenario", "kind", "strategy"], sort=True)
    out = g[keys].agg(["mean", "std"])
    out.columns = [f"{k}_{stat}" for k, stat in out.columns]
    out["seeds"] = g["seed"].nunique()
    out["runs"] = g.size()
    out["repeated_seeds"] = g["repeated_seeds"].first()
    out = out.reset_index()
    return out.sort_values(
        ["scenario", "final_accuracy_mean"], ascending=[True, False], ignore_index=True
    )


def cost_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (scenario, strategy): the target, the median time-to-target over seeds (AlgoPerf's
    per-workload time: median over repetitions; inf when most runs missed it), how many runs
    reached it and how many had a target, and the mean of each cost column."""
    g = runs.groupby(["scenario", "kind", "strategy"], sort=True)  # a scenario has one kind
    out = g[[k for k, _ in COST_VIEW]].mean()
    out["target_accuracy"] = g["target_accuracy"].max()
    out["time_to_target_s"] = g["time_to_target_s"].median()  # NaN (no target) is skipped
    out["reached"] = g["time_to_target_s"].agg(lambda s: int(np.isfinite(s).sum()))
    out["timed"] = g["time_to_target_s"].agg(lambda s: int(s.notna().sum()))
    out["seeds"] = g["seed"].nunique()
    return out.reset_index().sort_values(["scenario", "time_to_target_s", "strategy"])


def profile_times(costs: pd.DataFrame) -> pd.DataFrame:
    """Median time-to-target, rows strategies, columns the scenarios that have a target; a
    strategy without runs on a scenario is NaN there (the profile counts it as not reached)."""
    timed = costs[costs["timed"] > 0]
    return timed.pivot(index="strategy", columns="scenario", values="time_to_target_s")


def profile_applies(costs: pd.DataFrame, times: pd.DataFrame) -> pd.DataFrame:
    """Which scenarios of `times` each strategy applies to (shaped like `times`): those of the
    kinds it has records on. A missed target or a missing run on one of them still counts
    as not reached; a scenario of another kind (tent on class-il) does not count at all."""
    kind_of = costs.drop_duplicates("scenario").set_index("scenario")["kind"]
    kinds = costs.groupby("strategy")["kind"].agg(set)
    cols = [kind_of[c] for c in times.columns]
    return pd.DataFrame(
        [[k in kinds.get(s, set()) for k in cols] for s in times.index],
        index=times.index,
        columns=times.columns,
        dtype=bool,
    )


def profile_summary(times: pd.DataFrame, applies: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per strategy: scenarios run and scenarios it applies to, targets reached within
    AlgoPerf's ratio limit, and the performance-profile score (1: fastest to the target on
    every scenario it applies to)."""
    r = profiles.ratios(times)
    out = pd.DataFrame(
        {
            "scenarios": times.notna().sum(axis=1),
            "applicable": times.shape[1] if applies is None else applies.sum(axis=1),
            "reached": np.isfinite(times.fillna(np.inf)).sum(axis=1),
            "within": np.isfinite(r).sum(axis=1),
            "score": profiles.score(r, applies=applies),
        }
    )
    return out.sort_values(["score", "reached"], ascending=False)


def _seconds(t: float) -> str:
    return "–" if np.isnan(t) else ("∞" if np.isinf(t) else f"{t:.1f}")


def _cost_table(costs: pd.DataFrame, scenario: str) -> tuple[list[str], list[list[str]]]:
    part = costs[costs["scenario"] == scenario]
    headers = ["strategy", "seeds", "time to target (s)", "reached"] + [t for _, t in COST_VIEW]
    body = []
    for _, row in part.iterrows():
        cells = [row["strategy"], str(row["seeds"]), _seconds(row["time_to_target_s"])]
        cells.append(f"{row['reached']}/{row['timed']}" if row["timed"] else "–")
        cells += [_cell(row[k], np.nan, 1 if k == "wall_time_s" else 0, "") for k, _ in COST_VIEW]
        body.append(cells)
    return headers, body


def _profile_table(times: pd.DataFrame, applies: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    summary = profile_summary(times, applies)
    headers = [
        "strategy",
        "scenarios run / applicable",
        "targets reached",
        f"within {profiles.MAX_RATIO:g}x",
        "score",
    ]
    body = [
        [
            name,
            f"{row.scenarios}/{row.applicable}",
            str(row.reached),
            str(row.within),
            f"{row.score:.3f}",
        ]
        for name, row in zip(summary.index, summary.itertuples(index=False), strict=True)
    ]
    return headers, body


def _cell(mean: float, std: float, digits: int, pm: str) -> str:
    if np.isnan(mean):
        return "–"
    if np.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f}{pm}{std:.{digits}f}"


def _table(summary: pd.DataFrame, scenario: str, pm: str) -> tuple[list[str], list[list[str]]]:
    part = summary[summary["scenario"] == scenario]
    metrics = _metric_columns(part["kind"].unique())
    headers = ["strategy", "seeds"] + [t for _, t in metrics + COSTS]
    body = []
    for _, row in part.iterrows():
        seeds = str(row["seeds"])
        if row["repeated_seeds"]:
            seeds += f" (seed {row['repeated_seeds']} twice: once)"
        cells = [row["strategy"], seeds]
        cells += [_cell(row[f"{k}_mean"], row[f"{k}_std"], 3, pm) for k, _ in metrics]
        cells += [
            _cell(row[f"{k}_mean"], row[f"{k}_std"], 1 if k == "wall_time_s" else 0, pm)
            for k, _ in COSTS
        ]
        body.append(cells)
    return headers, body


PROFILE_PLOT = "performance-profile.png"
PROFILE_OVER = "performance profile over the scenarios each strategy applies to"


def plot_files(plots_dir: Path, scenario: str) -> list[Path]:
    return [
        plots_dir / f"{scenario}-seen-accuracy.png",
        plots_dir / f"{scenario}-accuracy-matrix.png",
    ]


def render(
    records: list[dict[str, Any]],
    fmt: str,
    plots_dir: Path | None = None,
    link_base: Path | None = None,
) -> str:
    """The leaderboard as text in `fmt`; Markdown links the plots of `plots_dir` that exist."""
    if fmt not in FORMATS:
        raise ClbenchError(f"unknown format '{fmt}'; valid: {', '.join(FORMATS)}")
    if not records:
        raise ClbenchError("no records to tabulate")
    runs = runs_frame(records)
    summary = summary_frame(runs)
    costs = cost_frame(runs)
    if fmt == "csv":
        extra = costs[["scenario", "strategy", "target_accuracy", "time_to_target_s", "reached"]]
        extra = extra.rename(columns={"time_to_target_s": "time_to_target_s_median"})
        merged = summary.merge(extra, on=["scenario", "strategy"], how="left")
        return merged.to_csv(index=False, float_format="%.6g")
    from tabulate import tabulate

    out: list[str] = []
    if fmt == "md":
        out += [
            "# clbench leaderboard",
            "",
            f"Generated by `clbench leaderboard` from {len(records)} records: mean ± std over seeds.",
            "Accuracies are fractions of the test data; definitions in docs/records.md.",
        ]
    for scenario, kind in summary[["scenario", "kind"]].drop_duplicates().itertuples(index=False):
        if fmt == "md":
            headers, body = _table(summary, scenario, " ± ")
            out += [
                "",
                f"## {scenario} ({kind})",
                "",
                tabulate(body, headers, tablefmt="github", disable_numparse=True),
            ]
            if plots_dir is not None:
                for p in plot_files(plots_dir, scenario):
                    if p.is_file():
                        rel = os.path.relpath(p, link_base or Path.cwd())
                        out += ["", f"![{p.stem}]({Path(rel).as_posix()})"]
        else:
            headers, body = _table(summary, scenario, r" $\pm$ ")
            out += [
                f"% {scenario} ({kind}): mean $\\pm$ std over seeds",
                tabulate(body, headers, tablefmt="latex_booktabs", disable_numparse=True).replace(
                    r"\$\textbackslash{}pm\$", r"$\pm$"
                ),
                "",
            ]
    out += _cost_sections(costs, fmt, plots_dir, link_base)
    out += paper_table.section(records, fmt)  # paper presets vs our records
    return "\n".join(out).rstrip("\n") + "\n"


def _cost_sections(
    costs: pd.DataFrame, fmt: str, plots_dir: Path | None, link_base: Path | None
) -> list[str]:
    """The cost view per scenario, then the performance profile across scenarios."""
    from tabulate import tabulate

    md = fmt == "md"
    tablefmt = "github" if md else "latex_booktabs"
    out: list[str] = []
    if md:
        out += [
            "",
            "## Costs",
            "",
            "Time to target: training wall time, evaluation paused out, until the accuracy on",
            "seen data first reached the scenario's target in the last experience (median over",
            "seeds; ∞: not reached); reached: runs that reached it. Definitions in docs/records.md.",
        ]
    for scenario in costs["scenario"].unique():
        part = costs[costs["scenario"] == scenario]
        target = part["target_accuracy"].max()
        title = f"{scenario} (target {target:.2f})" if not np.isnan(target) else scenario
        headers, body = _cost_table(costs, scenario)
        table = tabulate(body, headers, tablefmt=tablefmt, disable_numparse=True)
        if not md:
            table = table.replace("∞", r"$\infty$")
        out += ["", f"### {title}", "", table] if md else [f"% costs: {title}", table, ""]
    times = profile_times(costs)
    if times.shape[1] == 0:
        return out
    headers, body = _profile_table(times, profile_applies(costs, times))
    table = tabulate(body, headers, tablefmt=tablefmt, disable_numparse=True)
    if not md:
        return out + [f"% {PROFILE_OVER} ({', '.join(times.columns)})", table, ""]
    out += [
        "",
        "## Performance profile (time to target)",
        "",
        f"Scenarios with a target: {', '.join(times.columns)}. Each strategy is profiled over",
        "the ones it applies to, those of the kinds it has records on (the denominator of",
        "'scenarios run / applicable'); a scenario of another kind does not count. After",
        "AlgoPerf: per scenario, ratio = time to target / the fastest strategy's; a ratio above",
        f"{profiles.MAX_RATIO:g}, a missed target or no run there counts as infinite; score = area",
        "under the share of applicable scenarios within ratio τ, for τ from 1 to",
        f"{profiles.MAX_RATIO:g}, normalised to [0, 1].",
        "",
        table,
    ]
    if plots_dir is not None and (plots_dir / PROFILE_PLOT).is_file():
        rel = os.path.relpath(plots_dir / PROFILE_PLOT, link_base or Path.cwd())
        out += ["", f"![performance-profile]({Path(rel).as_posix()})"]
    return out


def write_plots(records: list[dict[str, Any]], plots_dir: Path) -> list[Path]:
    """Per scenario: seen-data accuracy after each experience (mean ± std band over seeds, one
    line per strategy) and each strategy's mean accuracy-matrix heatmap. Returns the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    by_scenario: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for label, r in labelled(records):
        by_scenario.setdefault(r["scenario"], {}).setdefault(label, []).append(r)
    for scenario, by_strategy in sorted(by_scenario.items()):
        curve_path, matrix_path = plot_files(plots_dir, scenario)
        fig, ax = plt.subplots(figsize=(6, 4))
        for strategy, runs in sorted(by_strategy.items()):
            curves = np.array(
                [r["seen_accuracy"] for r in runs if "seen_accuracy" in r], dtype=float
            )
            if curves.size == 0:
                continue
            x = np.arange(1, curves.shape[1] + 1)
            mean, std = curves.mean(0), curves.std(0)
            ax.plot(x, mean, marker="o", label=f"{strategy} (n={len(curves)})")
            ax.fill_between(x, mean - std, mean + std, alpha=0.2)
        ax.set(xlabel="experience", ylabel="accuracy on seen data", title=scenario, ylim=(0, 1.02))
        ax.set_xticks(x)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(curve_path, dpi=120, metadata={"Software": None})
        plt.close(fig)
        written.append(curve_path)

        names = sorted(by_strategy)
        fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.4), squeeze=False)
        for ax, strategy in zip(axes[0], names, strict=True):
            mat = np.mean(
                [np.array(r["accuracy_matrix"], dtype=float) for r in by_strategy[strategy]], axis=0
            )
            ax.imshow(mat, vmin=0, vmax=1, cmap="viridis")
            for (i, j), v in np.ndenumerate(mat):
                ax.text(
                    j,
                    i,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="w" if v < 0.6 else "k",
                )
            ax.set(title=strategy, xlabel="test experience", ylabel="after training experience")
            ticks = np.arange(mat.shape[0])
            ax.set_xticks(ticks, [str(t + 1) for t in ticks])
            ax.set_yticks(ticks, [str(t + 1) for t in ticks])
        fig.suptitle(f"{scenario}: accuracy matrix (mean over seeds)")
        fig.tight_layout()
        fig.savefig(matrix_path, dpi=120, metadata={"Software": None})
        plt.close(fig)
        written.append(matrix_path)
    costs = cost_frame(runs_frame(records))
    times = profile_times(costs)
    if times.shape[1] > 0:
        applies = profile_applies(costs, times)
        written.append(_plot_profile(times, plots_dir / PROFILE_PLOT, applies))
    return written


def _plot_profile(times: pd.DataFrame, path: Path, applies: pd.DataFrame | None = None) -> Path:
    """rho(tau) per strategy, as steps over tau in [1, MAX_RATIO]: over the scenarios it
    applies to (their number in the legend), or over all of them when `applies` is None."""
    import matplotlib.pyplot as plt

    taus = np.linspace(1.0, profiles.MAX_RATIO, 301)
    rho = profiles.profile(profiles.ratios(times), taus, applies).fillna(0.0)
    if applies is not None:
        rho.index = [f"{s} (of {int(applies.loc[s].sum())})" for s in rho.index]
    title = f"{PROFILE_OVER} (of n: their number)" if applies is not None else None
    never = [str(s) for s, row in rho.iterrows() if not row.any()]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    styles = ["-", "--", ":", "-."]
    for i, (strategy, row) in enumerate(rho[~rho.index.isin(never)].iterrows()):
        ax.step(taus, row.to_numpy(), where="post", label=str(strategy), ls=styles[i // 10 % 4])
    lines = textwrap.wrap("never within 4x: " + ", ".join(never), 160) if never else []
    if lines:  # flat at zero: named below the plot instead of drawn
        fig.text(0.01, 0.01, "\n".join(lines), fontsize=7)
    ax.set(
        xlabel="τ (time to target / fastest strategy's)",
        ylabel="share of its applicable scenarios within τ",
        ylim=(-0.02, 1.02),
        xlim=(1.0, profiles.MAX_RATIO),
    )
    fig.suptitle(title or f"performance profile over {times.shape[1]} scenarios", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout(rect=(0, 0.03 * (len(lines) + 0.5), 1, 1))
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
    return path
