"""Time-to-result (AlgoPerf) in every record: the training wall time until the accuracy on
seen data first reaches the scenario's target during the last experience."""

from conftest import QUIET, quick_cfg

from clbench.compose import compose
from clbench.runner import run

FAST = ["train.epochs=2", "scenario.n_experiences=2"]


def test_reached_target_is_timed_and_evaluation_is_paused_out(results_dir):
    costs = run(
        quick_cfg("replay", "split-digits", results_dir, *FAST, "scenario.target_accuracy=0.3")
    ).record["costs"]
    assert costs["target_accuracy"] == 0.3
    assert costs["eval_time_s"] > 0
    assert 0 < costs["time_to_target_s"] <= costs["wall_time_s"] - costs["eval_time_s"]


def test_unreached_or_absent_target_is_none(results_dir):
    # finetune forgets the first experience: 8x8 digits never reach 0.99 on all ten classes
    costs = run(
        quick_cfg("finetune", "split-digits", results_dir, *FAST, "scenario.target_accuracy=0.99")
    ).record["costs"]
    assert costs["time_to_target_s"] is None
    costs = run(
        quick_cfg("finetune", "split-digits", results_dir, *FAST, "scenario.target_accuracy=null")
    ).record["costs"]
    assert costs["target_accuracy"] is None and costs["time_to_target_s"] is None


def test_checks_during_training_do_not_change_the_run(results_dir):
    # replay draws its replay batches from the global RNG: the in-training evaluations must
    # leave it as it was
    with_checks = run(
        quick_cfg("replay", "split-digits", results_dir, *FAST, "scenario.target_accuracy=1.0")
    )
    without = run(
        quick_cfg("replay", "split-digits", results_dir, *FAST, "scenario.target_accuracy=null")
    )
    assert with_checks.record["accuracy_matrix"] == without.record["accuracy_matrix"]


def test_scenarios_with_committed_results_declare_targets():
    for scenario, target in [
        ("split-mnist-5k", 0.8),
        ("permuted-mnist-5k", 0.9),
        ("fscil-mnist-5k", 0.75),
        ("mnist-5k-c", 0.9),
    ]:
        cfg = compose("finetune" if scenario != "mnist-5k-c" else "source", scenario, None, QUIET)
        assert cfg.scenario.target_accuracy == target


def test_the_last_experience_is_checked_after_every_epoch(results_dir, monkeypatch):
    import clbench.runner as runner

    calls = []
    real = runner.evaluate

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "evaluate", counting)
    overrides = ["train.epochs=3", "scenario.n_experiences=2"]
    run(
        quick_cfg(
            "finetune", "split-digits", results_dir, *overrides, "scenario.target_accuracy=1.0"
        )
    )
    assert len(calls) == 2 + 3  # one row per experience + one check per epoch of the last
    calls.clear()
    run(
        quick_cfg(
            "finetune", "split-digits", results_dir, *overrides, "scenario.target_accuracy=null"
        )
    )
    assert len(calls) == 2
