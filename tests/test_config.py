"""Config composition: precedence, unknown keys, bad values."""

import pytest

from clbench.compose import compose
from clbench.errors import ClbenchError


def test_defaults_and_scenario_defaults():
    cfg = compose("replay", "split-mnist-5k")
    assert cfg.strategy.name == "replay" and cfg.strategy.buffer_size == 200
    assert cfg.scenario.name == "split-mnist-5k" and cfg.scenario.n_experiences == 5
    assert cfg.train.epochs == 5  # from the scenario's defaults, not the package's 1


def test_precedence_yaml_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text(
        "seed: 4\ntrain:\n  lr: 0.5\n  epochs: 2\nstrategy:\n  name: replay\n  buffer_size: 7\n"
    )
    cfg = compose(None, None, f, ["train.lr=0.25"])
    assert cfg.seed == 4 and cfg.train.epochs == 2
    assert cfg.train.lr == 0.25  # override beats file
    assert cfg.strategy.buffer_size == 7


def test_cli_name_beats_file(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("strategy:\n  name: joint\n")
    assert compose("finetune", None, f).strategy.name == "finetune"
    assert compose(None, None, f).strategy.name == "joint"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("replay", None, None, ["train.lrr=1"]),
            "unknown config key 'train.lrr'; did you mean train.lr",
        ),
        (
            ("finetune", None, None, ["strategy.buffer_size=3"]),
            "unknown config key 'strategy.buffer_size'",
        ),
        (("replay", None, None, ["train.lr=abc"]), "bad value for 'train.lr'"),
        (("replay", None, None, ["seed"]), "bad override 'seed'"),
        (("nope", None, None, []), "unknown strategy 'nope'"),
        ((None, "split-mnsit-5k", None, []), "did you mean split-mnist-5k"),
        ((None, None, "/does/not/exist.yaml", []), "cannot read config file /does/not/exist.yaml"),
    ],
)
def test_bad_input_is_a_clbench_error(args, message):
    with pytest.raises(ClbenchError, match="") as info:
        compose(*args)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
