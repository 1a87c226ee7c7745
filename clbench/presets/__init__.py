"""Paper recipes as presets: one YAML file per (method, dataset) a seed paper reports, shipped
in this folder (docs/presets.md).

A preset names its strategy and scenario, gives every setting of the paper's run as
`key: [value, source]` with source `paper`, `code` (the authors' reference code) or `ours`,
describes what no config key expresses (augmentation, Nesterov) under `notes`, and carries
the paper's number(s): value in percent (points), the record metric it compares with, the
table and the row. `preset.config()` is a config layer: package, scenario and strategy
defaults <- preset <- --config file <- key=value; the resolved config keeps `preset: NAME`,
so records made with it say so (clbench/paper_table.py compares them with the paper).
Pure data: nothing here imports a strategy or a scenario.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from clbench.errors import ClbenchError, unknown

FOLDER = Path(__file__).resolve().parent
SOURCES = ("paper", "code", "ours")
DEFAULT_TOLERANCE = 1.0  # points; our choice
# Record metrics a paper number may be compared with (all reported in percent)
METRICS = (
    "final_accuracy",
    "average_incremental_accuracy",
    "forgetting",
    "performance_drop",
    "final_base_accuracy",
    "final_novel_accuracy",
    "final_harmonic_mean",
    "online_mean_error",
    "mean_error",
)
TOP_KEYS = {"strategy", "scenario", "paper", "code", "description", "reported", "tolerance"}
TOP_KEYS |= {"settings", "notes"}


@dataclass(frozen=True)
class Reported:
    """One number of the paper: `value` percent of record metric `metric`, at `table`/`row`."""

    value: float
    metric: str
    table: str
    row: str


@dataclass(frozen=True)
class Preset:
    name: str
    strategy: str
    scenario: str
    paper: str
    code: str
    description: str
    reported: tuple[Reported, ...]
    tolerance: float
    tolerance_source: str
    settings: dict[str, tuple[Any, str]] = field(default_factory=dict)
    notes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def config(self) -> DictConfig:
        """The preset as a user-config layer (names, `preset`, and every setting)."""
        cfg = OmegaConf.create(
            {"preset": self.name, "strategy": {"name": self.strategy}, "scenario": {}}
        )
        cfg.scenario.name = self.scenario
        for key, (value, _) in self.settings.items():
            OmegaConf.update(cfg, key, value, force_add=True)
        return cfg


def names() -> list[str]:
    """The presets' names, numbers in them in numeric order (m200 before m1000)."""
    return sorted(
        (p.stem for p in FOLDER.glob("*.yaml")),
        key=lambda n: [
            (0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", n)
        ],
    )


def _pair(name: str, key: str, item: Any) -> tuple[Any, str]:
    if not isinstance(item, list) or len(item) != 2 or item[1] not in SOURCES:
        raise ClbenchError(
            f"preset {name}: {key} must be [value, source] with source one of {', '.join(SOURCES)}"
        )
    return item[0], item[1]


def _reported(name: str, items: Any) -> tuple[Reported, ...]:
    out = []
    for item in items or []:
        if not isinstance(item, dict) or set(item) != {"value", "metric", "table", "row"}:
            raise ClbenchError(
                f"preset {name}: each reported number needs value, metric, table, row"
            )
        if item["metric"] not in METRICS:
            raise ClbenchError(
                f"preset {name}: metric '{item['metric']}' is not one of {', '.join(METRICS)}"
            )
        out.append(
            Reported(float(item["value"]), item["metric"], str(item["table"]), str(item["row"]))
        )
    return tuple(out)


def parse(name: str, data: Any) -> Preset:
    """A preset from its YAML mapping, or a ClbenchError naming what is wrong."""
    if not isinstance(data, dict):
        raise ClbenchError(f"preset {name} must hold a mapping")
    missing = {"strategy", "scenario", "paper", "reported", "settings"} - set(data)
    extra = set(data) - TOP_KEYS
    if missing or extra:
        what = (
            f"lacks {', '.join(sorted(missing))}"
            if missing
            else f"has unknown {', '.join(sorted(extra))}"
        )
        raise ClbenchError(f"preset {name} {what}")
    tol = data.get("tolerance", [DEFAULT_TOLERANCE, "ours"])
    tol_value, tol_source = _pair(name, "tolerance", tol)
    settings = {str(k): _pair(name, str(k), v) for k, v in (data["settings"] or {}).items()}
    if any(k.split(".")[0] in ("strategy", "scenario") and k.endswith(".name") for k in settings):
        raise ClbenchError(f"preset {name}: name the strategy and scenario at the top level")
    notes = {str(k): _pair(name, str(k), v) for k, v in (data.get("notes") or {}).items()}
    return Preset(
        name=name,
        strategy=str(data["strategy"]),
        scenario=str(data["scenario"]),
        paper=str(data["paper"]),
        code=str(data.get("code", "")),
        description=str(data.get("description", "")),
        reported=_reported(name, data["reported"]),
        tolerance=float(tol_value),
        tolerance_source=tol_source,
        settings=settings,
        notes={k: (str(v), s) for k, (v, s) in notes.items()},
    )


@cache
def load(name: str) -> Preset:
    """The preset `name`; an unknown name is one line with the closest names."""
    if name not in names():
        raise unknown("preset", name, names())
    import yaml

    path = FOLDER / f"{name}.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ClbenchError(f"cannot read preset {path}: {str(e).splitlines()[0]}") from None
    return parse(name, data)


def all_presets() -> list[Preset]:
    return [load(n) for n in names()]
