"""Paper presets: the shipped YAML files, the loader's checks, composing a preset under the
user's settings, `clbench presets` and `clbench run --preset`."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from conftest import QUIET

from clbench import presets
from clbench.cli import main
from clbench.compose import compose
from clbench.errors import ClbenchError

# A preset on names this branch has (split-digits, mlp), written to a temporary preset folder.
TOY = """
strategy: replay
scenario: split-digits
paper: "A. Author. A toy paper, 2026"
code: "nobody/toy"
reported:
  - {value: 80.0, metric: final_accuracy, table: "Table 1", row: "replay, M = 50"}
tolerance: [2.0, ours]
settings:
  strategy.buffer_size: [50, paper]
  train.lr: [0.05, code]
  train.betas: [[0.9, 0.99], code]
  backbone.hidden_dim: [32, ours]
notes:
  augmentation: ["none, as the paper", paper]
"""


@pytest.fixture
def toy_folder(tmp_path, monkeypatch):
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "toy-digits.yaml").write_text(TOY)
    monkeypatch.setattr(presets, "FOLDER", folder)
    presets.load.cache_clear()
    yield folder
    presets.load.cache_clear()


def test_the_shipped_presets_parse_and_label_every_setting():
    all_presets = presets.all_presets()
    assert len(all_presets) >= 10
    named = {p.name for p in all_presets}
    for must in ("teen-cifar100", "teen-cub200", "teen-mini-imagenet", "nmc-split-cifar100-vit"):
        assert must in named
    assert {f"onpro-split-cifar10-m{m}" for m in (100, 200, 500)} <= named
    assert {"onpro-split-cifar100-m500", "vdp-cifar10c-vit"} <= named
    for p in all_presets:
        assert p.settings and all(src in presets.SOURCES for _, src in p.settings.values())
        assert p.tolerance_source in presets.SOURCES
        for r in p.reported:
            assert r.metric in presets.METRICS and 0 < r.value < 100, p.name
    with_numbers = [p for p in all_presets if p.reported]
    assert len(with_numbers) >= 10
    teen = presets.load("teen-mini-imagenet")
    assert [r.value for r in teen.reported] == [52.08, 61.44, 21.45]
    assert teen.settings["train.epochs"] == (1000, "code")
    assert presets.load("onpro-split-cifar10-m100").settings["strategy.buffer_size"] == (
        100,
        "paper",
    )
    assert presets.load("replay-split-cifar10-infinite").reported == ()


def test_preset_config_layer_holds_names_preset_and_settings(toy_folder):
    cfg = presets.load("toy-digits").config()
    assert cfg.preset == "toy-digits" and cfg.strategy.name == "replay"
    assert cfg.scenario.name == "split-digits" and cfg.strategy.buffer_size == 50
    assert list(cfg.train.betas) == [0.9, 0.99]


def test_unknown_preset_is_one_line_with_close_names(capsys):
    assert main(["run", "--preset", "teen-cifar"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unknown preset 'teen-cifar'; did you mean teen-cifar100" in err


@pytest.mark.parametrize(
    "data, needle",
    [
        ([], "must hold a mapping"),
        ({"strategy": "x", "scenario": "y", "paper": "p", "reported": []}, "lacks settings"),
        (
            {
                "strategy": "x",
                "scenario": "y",
                "paper": "p",
                "reported": [],
                "settings": {},
                "bogus": 1,
            },
            "unknown bogus",
        ),
        (
            {
                "strategy": "x",
                "scenario": "y",
                "paper": "p",
                "reported": [],
                "settings": {"train.lr": [0.1, "guess"]},
            },
            "[value, source]",
        ),
        (
            {
                "strategy": "x",
                "scenario": "y",
                "paper": "p",
                "reported": [],
                "settings": {"train.lr": 0.1},
            },
            "[value, source]",
        ),
        (
            {
                "strategy": "x",
                "scenario": "y",
                "paper": "p",
                "settings": {},
                "reported": [{"value": 1, "metric": "acc", "table": "t", "row": "r"}],
            },
            "metric 'acc'",
        ),
        (
            {
                "strategy": "x",
                "scenario": "y",
                "paper": "p",
                "settings": {},
                "reported": [{"value": 1}],
            },
            "value, metric, table, row",
        ),
        (
            {
                "strategy": "x",
                "scenario": "y",
                "paper": "p",
                "reported": [],
                "settings": {"strategy.name": ["z", "ours"]},
            },
            "top level",
        ),
    ],
)
def test_malformed_presets_are_named_errors(data, needle):
    with pytest.raises(ClbenchError, match="preset bad") as e:
        presets.parse("bad", data)
    assert needle in str(e.value)


def test_compose_puts_the_preset_under_the_users_settings(toy_folder, tmp_path):
    cfg = compose(None, None, None, ["preset=toy-digits", *QUIET])
    assert (cfg.preset, cfg.strategy.name, cfg.scenario.name) == (
        "toy-digits",
        "replay",
        "split-digits",
    )
    assert cfg.strategy.buffer_size == 50 and cfg.train.lr == 0.05 and cfg.backbone.hidden_dim == 32
    # key=value and a --config file win over the preset
    file = tmp_path / "c.yaml"
    file.write_text("train:\n  lr: 0.2\n")
    cfg = compose(None, None, file, ["preset=toy-digits", "strategy.buffer_size=7"])
    assert cfg.strategy.buffer_size == 7 and cfg.train.lr == 0.2 and cfg.backbone.hidden_dim == 32
    # naming the preset's own strategy is fine; another one is an error
    assert compose("replay", "split-digits", None, ["preset=toy-digits"]).preset == "toy-digits"
    with pytest.raises(
        ClbenchError,
        match="preset toy-digits is replay on split-digits; it cannot run strategy lwf",
    ):
        compose("lwf", None, None, ["preset=toy-digits"])
    with pytest.raises(ClbenchError, match="cannot run scenario split-mnist-5k"):
        compose(None, None, None, ["preset=toy-digits", "scenario.name=split-mnist-5k"])
    assert compose("replay", "split-digits", None, []).preset is None


def test_cli_run_preset_prints_its_config_and_rejects_a_second_name(toy_folder, capsys):
    assert main(["run", "--preset", "toy-digits", "--print-config", "train.lr=0.3"]) == 0
    out = capsys.readouterr().out
    assert "preset: toy-digits" in out and "buffer_size: 50" in out and "lr: 0.3" in out
    assert main(["run", "--preset", "toy-digits", "preset=other", "--print-config"]) == 2
    assert "conflicts with preset=other" in capsys.readouterr().err


def test_clbench_presets_lists_names_papers_and_numbers(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "teen-mini-imagenet: teen on mini_imagenet" in out
    assert "52.08 final_accuracy (Table 3 (miniImageNet))" in out
    assert "replay-split-cifar10-infinite: replay on split-cifar10" in out
    assert "no number recovered" in out
    assert sum(line.startswith("  reported: ") for line in out.splitlines()) == len(presets.names())


# Every shipped preset must compose with the full config validation once the issue-11 branches
# are merged. Names this test expects to exist then (other helpers' work, not this branch's):
EXPECTED_SCENARIOS = (
    "cifar100",
    "cub200",
    "mini_imagenet",
    "split-cifar10",
    "split-cifar100",
    "cifar10c",
)
EXPECTED_BACKBONE_KEYS = ("pretrained", "nf")  # backbone.pretrained, backbone.nf
EXPECTED_BACKBONES = ("resnet20", "reduced-resnet18", "resnet18")  # plus any timm name


def _missing_names() -> list[str]:
    from clbench.config import BackboneConfig
    from scenarios import SCENARIOS

    keys = {f.name for f in fields(BackboneConfig)}
    missing = [f"scenario {s}" for s in EXPECTED_SCENARIOS if s not in SCENARIOS]
    return missing + [f"backbone.{k}" for k in EXPECTED_BACKBONE_KEYS if k not in keys]


@pytest.mark.parametrize("name", presets.names())
def test_every_preset_composes_after_the_merge(name, tmp_path):
    missing = _missing_names()
    if missing:
        pytest.skip(f"needs the issue-11 branches merged: {', '.join(missing)} missing")
    import timm

    from clbench.backbones import BACKBONES

    p = presets.load(name)
    cfg = compose(None, None, None, [f"preset={name}", f"results.dir={tmp_path}"])
    assert cfg.preset == name and cfg.strategy.name == p.strategy
    for key, (value, _) in p.settings.items():
        got = cfg
        for part in key.split("."):
            got = got[part]
        assert (list(got) if isinstance(value, list) else got) == value, key
    backbone = str(cfg.backbone.name)
    assert backbone in BACKBONES or timm.is_model(backbone), backbone
    for b in EXPECTED_BACKBONES:
        assert b in BACKBONES, b


def test_presets_ship_as_package_data_and_the_docs_list_them_all():
    repo = Path(__file__).resolve().parents[1]
    assert '"clbench.presets" = ["*.yaml"]' in (repo / "pyproject.toml").read_text()
    docs = (repo / "docs" / "presets.md").read_text()
    assert [n for n in presets.names() if f"| `{n}` |" not in docs] == []
