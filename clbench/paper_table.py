"""Paper vs measured: the leaderboard's section that sets each paper preset's numbers
(clbench/presets/) beside ours (issue 11, part 7).

Per preset and reported number: the paper's value (percent), our mean ± std over seeds of
the records made with the preset (`config.preset` names it and every setting the preset
gives is unchanged; one experiment of clbench/experiments.py, the one with the most seeds,
a repeated seed counted once), the difference ours − paper in points, the preset's
tolerance, and a verdict: reproduced (|difference| ≤ tolerance), not reproduced, or not
measured here (no such record: the preset still gets its row). A preset without a recovered
number shows its measurement with "no paper number".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import mean, stdev
from typing import Any

from clbench import presets as presets_mod
from clbench.experiments import flatten, label_experiments
from clbench.presets import Preset

NOT_MEASURED = "not measured here"


@dataclass(frozen=True)
class Row:
    preset: str
    metric: str
    paper: float | None
    where: str
    values: tuple[float, ...]  # ours, percent, one per seed
    tolerance: float
    note: str = ""

    @property
    def ours(self) -> float | None:
        return mean(self.values) if self.values else None

    @property
    def diff(self) -> float | None:
        ours = self.ours
        return None if ours is None or self.paper is None else ours - self.paper

    @property
    def verdict(self) -> str:
        if not self.values:
            return NOT_MEASURED
        if self.diff is None:
            return "no paper number"
        return "reproduced" if abs(self.diff) <= self.tolerance + 1e-9 else "not reproduced"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return not isinstance(b, bool) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def made_with(record: dict[str, Any], preset: Preset) -> bool:
    """Whether `record` ran preset `preset` with every one of its settings unchanged."""
    cfg = record.get("config") or {}
    if cfg.get("preset") != preset.name or record.get("strategy") != preset.strategy:
        return False
    flat = flatten(cfg)
    return all(k in flat and _same(flat[k], v) for k, (v, _) in preset.settings.items())


def preset_records(records: list[dict[str, Any]], preset: Preset) -> tuple[list[dict], str]:
    """The records of the preset's best-covered experiment (one per seed) and a note."""
    mine = [r for r in records if made_with(r, preset)]
    changed = sum(1 for r in records if (r.get("config") or {}).get("preset") == preset.name) - len(
        mine
    )
    groups: dict[str, list[dict[str, Any]]] = {}
    for r, (eid, _, dup) in zip(mine, label_experiments(mine), strict=True):
        if not dup:
            groups.setdefault(eid, []).append(r)
    best = sorted(groups, key=lambda e: (-len(groups[e]), e))
    notes = [f"{changed} record(s) with changed settings left out"] if changed else []
    if len(best) > 1:
        notes.append(f"{len(best) - 1} other experiment(s) of this preset left out")
    return (groups[best[0]] if best else []), "; ".join(notes)


def rows(records: list[dict[str, Any]], presets: list[Preset] | None = None) -> list[Row]:
    """One row per (preset, reported number); one row for a preset that reports none."""
    out = []
    for p in presets if presets is not None else presets_mod.all_presets():
        recs, note = preset_records(records, p)
        wanted = p.reported or (None,)
        for rep in wanted:
            metric = rep.metric if rep else "final_accuracy"
            values = tuple(
                100.0 * float(r["metrics"][metric])
                for r in sorted(recs, key=lambda r: r["seed"])
                if isinstance(r["metrics"].get(metric), int | float)
            )
            where = f"{rep.table}: {rep.row}" if rep else "no number recovered"
            out.append(
                Row(p.name, metric, rep.value if rep else None, where, values, p.tolerance, note)
            )
    return out


def _ours(row: Row, pm: str) -> str:
    if not row.values:
        return "–"
    sd = f"{pm}{stdev(row.values):.2f}" if len(row.values) > 1 else ""
    return f"{row.ours:.2f}{sd} ({len(row.values)})"


def _body(all_rows: list[Row], pm: str) -> list[list[str]]:
    return [
        [
            r.preset,
            r.metric,
            "–" if r.paper is None else f"{r.paper:.2f}",
            r.where,
            _ours(r, pm),
            "–" if r.diff is None else f"{r.diff:+.2f}",
            f"{r.tolerance:g}",
            r.verdict + (f" ({r.note})" if r.note else ""),
        ]
        for r in all_rows
    ]


HEADERS = ["preset", "metric", "paper", "where", "ours (seeds)", "diff", "tolerance", "verdict"]


def section(
    records: list[dict[str, Any]], fmt: str, presets: list[Preset] | None = None
) -> list[str]:
    """The section's lines in `fmt` (md or latex); nothing for csv (one table only)."""
    if fmt not in ("md", "latex"):
        return []
    from tabulate import tabulate

    all_rows = rows(records, presets)
    if not all_rows:
        return []
    if fmt == "latex":
        body = _body(all_rows, r" $\pm$ ")
        table = tabulate(body, HEADERS, tablefmt="latex_booktabs", disable_numparse=True)
        return [
            "% paper vs measured (percent)",
            table.replace(r"\$\textbackslash{}pm\$", r"$\pm$"),
            "",
        ]
    done = sum(r.verdict != NOT_MEASURED for r in all_rows)
    return [
        "",
        "## Paper vs measured",
        "",
        "Each paper preset (`clbench presets`, docs/presets.md) beside the records made with",
        "`clbench run --preset NAME` and its settings unchanged: ours is the mean ± std over",
        "seeds, in percent like the paper; diff = ours − paper, in points; reproduced when",
        "|diff| ≤ the preset's tolerance (1 point unless the preset says otherwise: our choice).",
        f"{done} of {len(all_rows)} numbers measured here.",
        "",
        tabulate(_body(all_rows, " ± "), HEADERS, tablefmt="github", disable_numparse=True),
    ]
