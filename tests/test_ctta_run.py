"""A CTTA run end to end: the source phase, then the corruption stream."""

from conftest import quick_cfg

from clbench.runner import run


def test_source_model_on_mnist_5k_c(results_dir):
    rec = run(quick_cfg("source", "mnist-5k-c", results_dir, "train.epochs=1")).record
    errors = rec["metrics"]["domain_error"]
    assert len(errors) == len(rec["accuracy_matrix"]) == 7
    # the source phase trained a real model (the convnet of tent and vdp): far better than
    # chance on the noise domains (measured: 0.23, 0.21; 0.79-0.90 on blur/contrast/...)
    assert errors[0] < 0.5 and errors[1] < 0.5, errors
    assert rec["config"]["backbone"]["name"] == "convnet"
    # no adaptation: every row of the matrix is the same model's accuracy
    assert all(row == rec["accuracy_matrix"][0] for row in rec["accuracy_matrix"])
    assert rec["costs"]["train_samples_per_s"] > 0  # the source phase is counted as training
