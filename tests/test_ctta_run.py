"""A CTTA run end to end: the source phase, then the corruption stream."""

from conftest import quick_cfg

from clbench.runner import run


def test_source_model_on_mnist_5k_c(results_dir):
    # the MLP: fast (this test is about the run, not the model)
    cfg = quick_cfg("source", "mnist-5k-c", results_dir, "train.epochs=1", "backbone.name=mlp")
    rec = run(cfg).record
    errors = rec["metrics"]["domain_error"]
    assert len(errors) == len(rec["accuracy_matrix"]) == 7
    # the source phase trained a real model: far better than chance on most domains
    assert sum(e < 0.5 for e in errors) >= 4, errors
    # no adaptation: every row of the matrix is the same model's accuracy
    assert all(row == rec["accuracy_matrix"][0] for row in rec["accuracy_matrix"])
    assert rec["costs"]["train_samples_per_s"] > 0  # the source phase is counted as training
