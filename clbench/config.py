"""Run configuration: package defaults <- scenario defaults <- strategy defaults <- YAML <- key=value.

Every group is a structured (dataclass) config, so an unknown key or a value of the wrong
type is an error that names the key. Strategies and scenarios contribute their own
parameter dataclasses under `strategy.` and `scenario.`; `resolve` merges them, given the
strategy class and scenario spec (clbench/compose.py looks those up in the registries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from yaml import YAMLError

from clbench.errors import ClbenchError, closest

DEFAULT_STRATEGY = "replay"
DEFAULT_SCENARIO = "split-mnist-5k"


@dataclass
class StrategyParams:
    """Base of every strategy's parameters; subclasses add their own fields."""

    name: str = MISSING


@dataclass
class ScenarioParams:
    """Base of every scenario's parameters; subclasses add their own fields."""

    name: str = MISSING
    # Time-to-result (AlgoPerf): the accuracy on seen data a run must reach; the record's
    # costs.time_to_target_s is the training wall time until it first does (None: never or
    # no target). Scenario families set theirs in their registry defaults.
    target_accuracy: float | None = None
    # Validation stream (clbench/validation.py): hold out this fraction of each experience's
    # training data (per class, seeded by validation_seed, else 0), scored like the test data
    # and used for tuning (clbench/tune.py). None or 0: off, the stream is unchanged.
    validation_fraction: float | None = None
    validation_seed: int | None = None


@dataclass
class TrainConfig:
    epochs: int = 1  # per experience
    batch_size: int = 32  # global batch: split evenly across DDP processes
    eval_batch_size: int = 1000
    optimizer: str = "sgd"  # sgd | adam
    lr: float = 0.01
    momentum: float = 0.0  # sgd
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # adam
    # Optimizer state (Adam's moments, SGD's momentum) across experiences: keep (one optimizer
    # for the whole stream) | reset (a fresh one per experience; our choice of default). Each
    # strategy's default is its reference code's (clbench/optim.py).
    optimizer_state: str = "reset"
    # Learning-rate schedule over the stream (clbench/schedules.py): constant | step | cosine |
    # repeated-cosine | infinite; stepped after every optimizer step.
    schedule: str = "constant"
    warmup_fraction: float | None = None  # None: 0.05 for cosine, repeated-cosine, infinite; else 0
    warmup_steps: int | None = None  # if set, replaces warmup_fraction
    # eta_min / lr: end of cosine decays and of the infinite anneal. The infinite schedule's
    # defaults are the command-line defaults of its authors' code (Pauljanson002/MAE-1
    # config.py: min_lr_ratio 0.01, cooldown_ratio 0.3, constant_lr_ratio 0.25, constant_ratio
    # 0.8, warmup_ratio 0.05); the repeated-cosine baseline decays to the same eta_min.
    min_lr_ratio: float = 0.01
    step_milestones: list[float] = field(default_factory=lambda: [0.5, 0.75])  # stream fractions
    step_gamma: float = 0.1  # step: lr multiplier at each milestone
    infinite_cooldown: str = "cosine"  # cosine | linear | inv-sqrt
    infinite_cooldown_end: float = 0.3  # T_cd as a fraction of the first experience
    infinite_constant_ratio: float = 0.25  # eta_c / lr
    infinite_anneal_start: float = 0.8  # T_ann as a fraction of each experience


@dataclass
class BackboneConfig:
    name: str = "mlp"
    hidden_dim: int = 400  # mlp: width of each hidden layer
    num_layers: int = 2  # mlp: number of hidden layers
    # New keys default to null ("not set"), so that records older than them stay one
    # experiment with newer ones (clbench/experiments.py).
    nf: int | None = None  # reduced-resnet18 first-stage width; null: 20 (GEM); OnPro, OCM: 64
    pretrained: bool | None = None  # timm names: timm's pretrained weights; null: false
    checkpoint: str | None = None  # local weights file for the backbone (clbench/weights.py)


@dataclass
class TrainerConfig:
    """Passed to the Lightning Trainer."""

    accelerator: str = "auto"
    devices: Any = 1
    strategy: str = "auto"  # e.g. ddp
    num_nodes: int = 1
    precision: str = "32-true"  # e.g. bf16-mixed: bf16 autocast on GPUs that have it
    compile: bool = False  # torch.compile the backbone (in place: same state_dict keys)
    channels_last: bool = False  # backbone weights and 4-d training batches in NHWC
    progress_bar: bool = True
    log_every_n_steps: int = 50  # Lightning's default; each logged step costs ~1 ms


@dataclass
class DataConfig:
    root: str = "${oc.env:CLBENCH_DATA,'~/.cache/clbench/data'}"
    download: bool = False


@dataclass
class ResultsConfig:
    dir: str = "results"


@dataclass
class RunConfig:
    seed: int = 0
    preset: str | None = None  # a paper recipe (clbench/presets/), set by `run --preset NAME`
    strategy: Any = field(default_factory=lambda: {"name": DEFAULT_STRATEGY})
    scenario: Any = field(default_factory=lambda: {"name": DEFAULT_SCENARIO})
    train: TrainConfig = field(default_factory=TrainConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    results: ResultsConfig = field(default_factory=ResultsConfig)


# Range checks of the package's own settings: (key, test, what it must be).
CHECKS: list[tuple[str, Any, str]] = [
    ("train.epochs", lambda v: v >= 0, ">= 0"),
    ("train.batch_size", lambda v: v >= 1, ">= 1"),
    ("train.eval_batch_size", lambda v: v >= 1, ">= 1"),
    ("train.lr", lambda v: v >= 0, ">= 0"),
    ("train.weight_decay", lambda v: v >= 0, ">= 0"),
    ("backbone.hidden_dim", lambda v: v >= 1, ">= 1"),
    ("backbone.num_layers", lambda v: v >= 0, ">= 0"),
    ("backbone.nf", lambda v: v is None or v >= 1, ">= 1 or null"),
    ("trainer.num_nodes", lambda v: v >= 1, ">= 1"),
    ("trainer.log_every_n_steps", lambda v: v >= 1, ">= 1"),
    (
        "trainer.devices",
        lambda v: _devices_ok(v),
        "a count >= 1, -1 (all), 'auto', or a list of device indices",
    ),
    ("scenario.target_accuracy", lambda v: v is None or 0 < v <= 1, "in (0, 1] or null"),
    ("scenario.validation_fraction", lambda v: v is None or 0 <= v < 1, "in [0, 1) or null"),
]


def _devices_ok(v: Any) -> bool:
    """Lightning's forms of `devices`: a count, -1 (all), "auto", "N" or "0,1", or a list."""
    if isinstance(v, ListConfig | list):
        return len(v) > 0 and all(isinstance(i, int) and i >= 0 for i in v)
    if isinstance(v, str):
        parts = [p.strip() for p in v.split(",") if p.strip()]
        return v == "auto" or v.strip() == "-1" or bool(parts) and all(p.isdigit() for p in parts)
    return isinstance(v, int) and not isinstance(v, bool) and (v >= 1 or v == -1)


# Numbers that may be negative (every other number in a config is a size, count, rate, weight
# or seed: finite and >= 0).
NEGATIVE_OK = frozenset({"trainer.devices"})  # -1: all devices
MAX_SEED = 2**32 - 1  # numpy's seeds


def _check_numbers(node: Any, prefix: str = "") -> None:
    """Every number of the resolved config finite and >= 0 (but `NEGATIVE_OK`), seeds within
    numpy's range: NaN, inf and negative sizes fail here, named, before anything runs."""
    items = node.items() if isinstance(node, DictConfig) else enumerate(node)
    for k, v in items:
        key = f"{prefix}{k}" if isinstance(node, DictConfig) else f"{prefix[:-1]}[{k}]"
        if isinstance(v, DictConfig | ListConfig):
            _check_numbers(v, f"{key}.")
        elif isinstance(v, int | float) and not isinstance(v, bool):
            if v != v or v in (float("inf"), float("-inf")):
                raise ClbenchError(f"{key} must be a finite number, got {v}")
            if v < 0 and key.split("[")[0] not in NEGATIVE_OK:
                raise ClbenchError(f"{key} must be >= 0, got {v}")
            if key.split(".")[-1].endswith("seed") and v > MAX_SEED:
                raise ClbenchError(f"{key} must be at most {MAX_SEED} (numpy's seeds), got {v}")


def _check_values(cfg: DictConfig) -> None:
    _check_numbers(cfg)
    for key, ok, must in CHECKS:
        value = OmegaConf.select(cfg, key)
        if not ok(value):
            raise ClbenchError(f"{key} must be {must}, got {value}")


def load_mapping(path: str | Path, what: str) -> DictConfig:
    """A YAML file that must hold a mapping; a one-line ClbenchError otherwise."""
    try:
        loaded = OmegaConf.load(Path(path))
    except (OSError, OmegaConfBaseException, ValueError, YAMLError) as e:
        raise ClbenchError(f"cannot read {what} {path}: {_first_line(e)}") from None
    if not isinstance(loaded, DictConfig):
        raise ClbenchError(f"{what} {path} must hold a mapping of settings")
    return loaded


def load_user_config(config_file: str | Path | None, overrides: list[str]) -> DictConfig:
    """The user's settings: the config file (if any) with the key=value overrides on top."""
    layers: list[Any] = []
    if config_file is not None:
        layers.append(load_mapping(config_file, "config file"))
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise ClbenchError(f"bad override '{item}'; expected key=value, e.g. seed=1")
    try:
        layers.append(OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as e:
        raise ClbenchError(f"bad override: {_first_line(e)}") from None
    return OmegaConf.merge(*layers) if layers else OmegaConf.create({})


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _keys(node: Any, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(node, DictConfig):
        for k in node.keys():
            key = f"{prefix}{k}"
            out.add(key)
            child = node._get_node(k)
            if isinstance(child, DictConfig):
                out |= _keys(child, key + ".")
    return out


def _check_keys(user: DictConfig, schema: DictConfig) -> None:
    valid = _keys(schema)
    for key in sorted(_keys(user)):
        if key not in valid:
            parent = key.rpartition(".")[0]
            if parent and parent not in valid:
                continue  # reported at its parent
            near = closest(key, [v for v in valid if v.count(".") == key.count(".")])
            hint = (
                f"did you mean {', '.join(near)}?" if near else "see `clbench run --print-config`"
            )
            raise ClbenchError(f"unknown config key '{key}'; {hint}")


def _named(user: DictConfig, group: str) -> str | None:
    node = user.get(group)
    return str(node.get("name")) if isinstance(node, DictConfig) and node.get("name") else None


def chosen_name(
    user: DictConfig, group: str, cli_value: str | None, default: str, overrides: DictConfig
) -> str:
    """The strategy or scenario (`group`) a run uses: given on the command line, else named in
    the user's config, else the default. The command line beats a config file's name, but a
    `group.name=` override that names another one is an error (which did the user mean?)."""
    said = _named(overrides, group)
    if cli_value and said and said != cli_value:
        raise ClbenchError(
            f"--{group} {cli_value} conflicts with {group}.name={said}; name the {group} once"
        )
    return cli_value or _named(user, group) or default


def resolve(
    user: DictConfig, strategy_name: str, strategy_cls: Any, scenario_name: str, scenario_spec: Any
) -> DictConfig:
    """The resolved run configuration of a user config for one strategy class (its `Params` and
    `defaults`) and one scenario spec (its `params` and `defaults`), or a ClbenchError naming
    what is wrong. clbench/compose.py looks the two up by name."""
    schema = OmegaConf.structured(RunConfig)
    schema.strategy = OmegaConf.structured(strategy_cls.Params(name=strategy_name))
    schema.scenario = OmegaConf.structured(scenario_spec.params(name=scenario_name))
    _check_keys(user, schema)
    try:
        cfg = OmegaConf.merge(
            schema,
            scenario_spec.defaults,
            getattr(strategy_cls, "defaults", {}),
            user,
            {"strategy": {"name": strategy_name}, "scenario": {"name": scenario_name}},
        )
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None)
        where = f" for '{key}'" if key else ""
        raise ClbenchError(f"bad value{where}: {_first_line(e)}") from None
    assert isinstance(cfg, DictConfig)
    _check_values(cfg)
    return cfg


def to_dict(cfg: DictConfig | ListConfig) -> Any:
    """A plain, JSON-ready copy of a resolved config."""
    return OmegaConf.to_container(cfg, resolve=True)


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)
