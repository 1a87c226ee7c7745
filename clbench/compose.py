"""Run configurations by strategy and scenario name: `compose` (a new run) and `resume_config`
(a stopped run's saved config, which settings given again must not change).

Above the core: the names are looked up in the strategy and scenario registries, whose
classes and specs `clbench.config.resolve` merges with the user's settings. Used by the CLI,
the sweep and the tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from clbench import presets
from clbench.config import (
    DEFAULT_SCENARIO,
    DEFAULT_STRATEGY,
    chosen_name,
    load_user_config,
    resolve,
    to_dict,
)
from clbench.errors import ClbenchError
from scenarios import SCENARIOS
from strategies import STRATEGIES


def compose(
    strategy: str | None = None,
    scenario: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> DictConfig:
    """The resolved run configuration, or a ClbenchError naming what is wrong. A `preset`
    named in the user's settings (`run --preset NAME` says `preset=NAME`) is the layer
    below them: the config file and the key=value settings win over it."""
    user = load_user_config(config_file, list(overrides))
    said = load_user_config(None, list(overrides))  # the key=value overrides alone
    if user.get("preset") is not None:
        user = _with_preset(user, str(user.preset), strategy, scenario)
    # an alias and its canonical name are one scenario: not a conflict between two names
    scenario = _canonical(SCENARIOS, scenario)
    for layer in (user, said):
        if layer.get("scenario") is not None and layer.scenario.get("name") is not None:
            layer.scenario.name = _canonical(SCENARIOS, str(layer.scenario.name))
    strategy_name = chosen_name(user, "strategy", strategy, DEFAULT_STRATEGY, said)
    scenario_name = chosen_name(user, "scenario", scenario, DEFAULT_SCENARIO, said)
    strategy_cls = STRATEGIES.load(strategy_name)
    scenario_name = SCENARIOS.get(scenario_name).name  # an alias -> the canonical name
    scenario_spec = SCENARIOS.load(scenario_name)
    return resolve(user, strategy_name, strategy_cls, scenario_name, scenario_spec)


def _with_preset(
    user: DictConfig, name: str, strategy: str | None, scenario: str | None
) -> DictConfig:
    """The user's settings over preset `name`'s; the preset's strategy and scenario stay."""
    preset = presets.load(name)
    merged = OmegaConf.merge(preset.config(), user)
    for group, cli, own, registry in (
        ("strategy", strategy, preset.strategy, STRATEGIES),
        ("scenario", scenario, preset.scenario, SCENARIOS),
    ):
        chosen = cli or str(merged[group].name)
        if not _same_entry(registry, chosen, own):
            raise ClbenchError(
                f"preset {name} is {preset.strategy} on {preset.scenario}; it cannot run "
                f"{group} {chosen} (drop --preset, or change its settings with key=value)"
            )
    assert isinstance(merged, DictConfig)
    return merged


def _canonical(registry: Any, name: str | None) -> str | None:
    """The canonical name of an entry named by `name` or an alias; unknown names unchanged."""
    try:
        return registry.get(name).name if name else name
    except ClbenchError:
        return name


def _same_entry(registry: Any, a: str, b: str) -> bool:
    """Two names of one registry entry (an alias and its canonical name count as one)."""
    if a == b:
        return True
    try:
        return bool(registry.get(a).target == registry.get(b).target)
    except ClbenchError:
        return False


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): d}


def resume_config(
    run_dir: str | Path,
    strategy: str | None = None,
    scenario: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> DictConfig:
    """The saved config of a run folder; settings given again must not change it."""
    saved_path = Path(run_dir) / "config.yaml"
    if not saved_path.is_file():
        raise ClbenchError(
            f"{run_dir} is not a clbench run folder (no {saved_path.name}); nothing to resume"
        )
    saved = compose(None, None, saved_path, [])
    cfg = compose(strategy, scenario, config_file or saved_path, overrides)
    old, new = _flat(to_dict(saved)), _flat(to_dict(cfg))
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if changed:
        k = changed[0]
        raise ClbenchError(
            f"cannot resume {run_dir} with a different config: {k} was {old.get(k)!r}, now {new.get(k)!r}"
            + (f" (and {len(changed) - 1} more)" if len(changed) > 1 else "")
        )
    return saved
