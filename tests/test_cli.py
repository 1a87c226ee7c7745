"""The command line: list, print-config, one-line errors with exit code 2."""

import time

import pytest

from clbench.cli import main


def test_list_shows_strategies_scenarios_and_kinds(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "finetune",
        "joint",
        "replay",
        "split-mnist-5k",
        "permuted-mnist-5k",
        "split-digits",
        "split-mnist",
    ):
        assert name in out
    assert "[class-il, domain-il]" in out and "[domain-il, input 1x28x28]" in out


def test_print_config(capsys):
    assert main(["run", "--strategy", "finetune", "--print-config", "seed=9", "train.lr=0.2"]) == 0
    out = capsys.readouterr().out
    assert "seed: 9" in out and "lr: 0.2" in out and "name: finetune" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "--strategy", "nope"], "unknown strategy 'nope'"),
        (["run", "--scenario", "nope"], "unknown scenario 'nope'"),
        (["run", "train.nope=1"], "unknown config key 'train.nope'"),
        (["run", "train.epochs=many"], "bad value for 'train.epochs'"),
        (["run", "strategy.buffer_size=-5", "train.epochs=1"], "strategy.buffer_size must be >= 0"),
        (
            ["run", "--scenario", "split-mnist", "data.root=/nonexistent/clbench"],
            "MNIST not found under /nonexistent/clbench/MNIST/raw",
        ),
        (["leaderboard", "/nonexistent/results"], "no results folder at /nonexistent/results"),
    ],
)
def test_bad_input_one_line_exit_2(argv, needle, capsys, tmp_path):
    code = main([*argv, f"results.dir={tmp_path}"] if argv[0] == "run" else argv)
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err
    assert err.count("\n") == 1 and err.startswith("clbench: error:"), err
    assert not (tmp_path / "runs").exists()  # no partial record


def test_unknown_command_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice" in err


@pytest.mark.slow  # a clbench subprocess
def test_console_script_errors_without_traceback(tmp_path, run_cli):
    proc = run_cli("run", "--strategy", "replay", "strategy.buffer_size=oops", timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "clbench: error: bad value for 'strategy.buffer_size': "
        "Value 'oops' of type 'str' could not be converted to Integer"
    )


@pytest.mark.slow  # a clbench subprocess
def test_help_and_list_start_fast(run_cli):
    t = time.perf_counter()
    run_cli("list", timeout=60).check_returncode()
    assert time.perf_counter() - t < 5.0  # no torch/Lightning/Avalanche import (about 10 s)
