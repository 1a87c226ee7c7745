"""The CLI as documented (issue #14, part 7): overrides before or after options, and
`scenario.class_order_seed` on every class-incremental stream the README names."""

import numpy as np
import pytest
from omegaconf import OmegaConf

from clbench.cli import main
from clbench.compose import compose
from scenarios import SCENARIOS


def _printed(capsys, argv):
    assert main(argv) == 0
    return OmegaConf.create(capsys.readouterr().out)


def test_overrides_may_come_before_and_after_options(capsys):
    cfg = _printed(
        capsys,
        ["run", "train.epochs=1", "--strategy", "finetune", "seed=3", "--print-config"],
    )
    assert cfg.train.epochs == 1 and cfg.seed == 3 and cfg.strategy.name == "finetune"
    mixed = ["run", "seed=4", "--scenario", "split-digits", "train.epochs=2", "--print-config"]
    cfg = _printed(capsys, mixed)
    assert (cfg.seed, cfg.train.epochs, cfg.scenario.name) == (4, 2, "split-digits")


def test_an_unknown_option_is_still_an_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "seed=1", "--strategyy", "finetune"])
    assert e.value.code == 2
    assert "unrecognized arguments: --strategyy finetune" in capsys.readouterr().err


@pytest.mark.parametrize("scenario", ["split-digits", "split-mnist-5k", "fscil-mnist-5k"])
def test_class_order_seed_permutes_the_classes_as_numpy_legacy_seeding(scenario):
    cfg = compose("nmc", scenario, None, ["scenario.class_order_seed=1993"])
    stream = SCENARIOS.load(scenario).build(cfg.scenario, cfg.data)
    seen = [c for e in stream.experiences() for c in e.classes]
    want = [int(c) for c in np.random.RandomState(1993).permutation(10)]
    if scenario == "fscil-mnist-5k":  # sessions list their classes sorted within a session
        assert sorted(seen) == list(range(10)) and set(seen[:6]) == set(want[:6])
    else:
        assert [sorted(want[i : i + 2]) for i in range(0, 10, 2)] == [
            sorted(e.classes) for e in stream.experiences()
        ]
