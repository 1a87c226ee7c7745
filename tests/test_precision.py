"""Every `trainer.precision` Lightning runs on a CPU runs end to end (training, evaluation,
feature caches, checkpoints, resume) in the precision's dtype; the others are refused in one
line (issue #16, part 1)."""

import pytest
import torch
from conftest import quick_cfg
from torch import nn

from clbench import precision
from clbench.cli import main
from clbench.errors import ClbenchError
from clbench.runner import run
from strategies.base import Strategy

# what the weights are in after each mode (the mixed ones keep float32 weights)
WEIGHTS = {
    "32-true": torch.float32,
    "64-true": torch.float64,
    "bf16-mixed": torch.float32,
    "bf16-true": torch.bfloat16,
    "16-true": torch.float16,
}


def test_every_cpu_mode_is_listed_with_its_dtype():
    assert set(precision.ON_CPU) == set(WEIGHTS)


@pytest.mark.parametrize(
    "value, mode",
    [("64", "64-true"), (64, "64-true"), ("32", "32-true"), ("bf16", "bf16-mixed")],
)
def test_lightning_legacy_aliases_name_their_mode(value, mode):
    assert precision.check(value, on_cpu=True) == mode


@pytest.mark.parametrize("value", ["16-mixed", "16", "transformer-engine"])
def test_gpu_only_modes_are_refused_on_cpu_and_accepted_on_gpu(value):
    with pytest.raises(ClbenchError, match="does not run on a CPU; on CPU: 32-true, 64-true"):
        precision.check(value, on_cpu=True)
    assert precision.check(value, on_cpu=False) == precision.canonical(value)


def test_unknown_value_lists_what_runs_where():
    with pytest.raises(ClbenchError, match="unknown trainer.precision 'half'; on CPU: .*GPUs"):
        precision.check("half", on_cpu=False)


def test_inputs_follow_the_parameters_dtype():
    layer = nn.Linear(2, 1).double()
    x = torch.ones(3, 2)
    assert precision.as_model_input(x, layer).dtype == torch.float64
    labels = torch.ones(3, dtype=torch.long)
    assert precision.as_model_input(labels, layer) is labels  # integers stay as they are
    assert precision.as_model_input(x, nn.Identity()) is x  # no parameters: unchanged
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast picks dtypes itself
        assert precision.as_model_input(x, layer) is x
    net = nn.Sequential()
    net.backbone, net.head = nn.Linear(2, 2).double(), nn.Linear(2, 1).double()
    precision.follow_model_dtype(net)
    assert net.backbone(x).dtype == torch.float64  # the float32 input was cast
    assert net.head(x).dtype == torch.float64


def test_refused_mode_exits_2_with_one_line(capsys, tmp_path):
    argv = ["run", "--strategy", "replay", "--scenario", "split-digits", "trainer.precision=16"]
    argv += ["trainer.accelerator=cpu", f"results.dir={tmp_path}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trainer.precision=16 (= 16-mixed) does not run" in err
    assert not (tmp_path / "runs").exists()


def _stopped_then_resumed(monkeypatch, cfg, results, strategy, scenario):
    """Run `cfg` stopped before experience 2 (state of experience 1 saved), then resumed."""
    original = Strategy.start_experience

    def stop(self, index):
        if index == 1:
            raise KeyboardInterrupt
        return original(self, index)

    monkeypatch.setattr(Strategy, "start_experience", stop)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    monkeypatch.setattr(Strategy, "start_experience", original)
    (run_dir,) = (results / "work" / scenario / strategy).iterdir()
    saved = torch.load(run_dir / "state.pt", weights_only=False)
    return run(cfg, resume=run_dir).record, saved["model"]


CASES = {  # a trainable strategy with a replay buffer; two with frozen feature caches
    "replay": ("split-digits", "scenario.n_experiences=2", "train.batch_size=64"),
    "teen": ("fscil-mnist-5k", "scenario.n_sessions=1", "backbone.hidden_dim=32"),
    "nmc": ("fscil-mnist-5k", "scenario.n_sessions=1", "backbone.hidden_dim=32"),
}


def _check_mode(mode, strategy, tmp_path, monkeypatch):
    scenario, *args = CASES[strategy]
    args = [*args, "train.epochs=1", f"trainer.precision={mode}", "seed=1"]
    whole = run(quick_cfg(strategy, scenario, tmp_path / "a", *args)).record
    stopped = tmp_path / "b"
    cfg = quick_cfg(strategy, scenario, stopped, *args)
    resumed, weights = _stopped_then_resumed(monkeypatch, cfg, stopped, strategy, scenario)
    backbone = [v for k, v in weights.items() if k.startswith("backbone.")]
    assert {v.dtype for v in backbone} == {WEIGHTS[mode]}  # ran in the mode's dtype
    assert resumed["resumes"] == 1
    assert resumed["accuracy_matrix"] == whole["accuracy_matrix"]  # exactly, on CPU
    assert resumed["accuracy_matrix"][-1][0] > 0.5  # it learned something


@pytest.mark.parametrize("strategy", list(CASES))
def test_float64_runs_and_resumes(strategy, tmp_path, monkeypatch):
    _check_mode("64-true", strategy, tmp_path, monkeypatch)


@pytest.mark.slow  # 3 strategies x 4 modes x 2 runs
@pytest.mark.parametrize("strategy", list(CASES))
@pytest.mark.parametrize("mode", [m for m in precision.ON_CPU if m != "64-true"])
def test_every_cpu_mode_runs_and_resumes(mode, strategy, tmp_path, monkeypatch):
    _check_mode(mode, strategy, tmp_path, monkeypatch)
