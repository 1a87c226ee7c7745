"""Metrics against matrices computed by hand."""

import pytest

from clbench import metrics as M

# A[i][j]: accuracy on test experience j after training experience i
A = [
    [0.9, 0.0, 0.0],
    [0.6, 0.8, 0.0],
    [0.3, 0.5, 0.7],
]


def test_seen_accuracy_equal_sizes():
    # after exp 0: 0.9; after 1: (0.6+0.8)/2 = 0.7; after 2: (0.3+0.5+0.7)/3 = 0.5
    assert M.seen_accuracy(A) == pytest.approx([0.9, 0.7, 0.5])


def test_seen_accuracy_is_sample_weighted():
    # sizes 100, 300, 100: after 1: (60+240)/400 = 0.75; after 2: (30+150+70)/500 = 0.5
    assert M.seen_accuracy(A, [100, 300, 100]) == pytest.approx([0.9, 0.75, 0.5])


def test_final_and_average_incremental_accuracy():
    assert M.final_accuracy(A) == pytest.approx(0.5)
    assert M.average_incremental_accuracy(A) == pytest.approx((0.9 + 0.7 + 0.5) / 3)


def test_forgetting():
    # j=0: max(0.9, 0.6) - 0.3 = 0.6; j=1: max(0.0, 0.8) - 0.5 = 0.3; mean 0.45
    assert M.forgetting(A) == pytest.approx(0.45)


def test_bwt():
    # j=0: 0.3-0.9 = -0.6; j=1: 0.5-0.8 = -0.3; mean -0.45
    assert M.backward_transfer(A) == pytest.approx(-0.45)


def test_positive_backward_transfer_and_zero_forgetting():
    B = [[0.5, 0.1], [0.7, 0.9]]
    assert M.backward_transfer(B) == pytest.approx(0.2)
    assert M.forgetting(B) == pytest.approx(-0.2)  # improved: negative forgetting


def test_single_experience():
    assert M.summarize([[0.42]]) == {
        "final_accuracy": pytest.approx(0.42),
        "average_incremental_accuracy": pytest.approx(0.42),
        "forgetting": 0.0,
        "bwt": 0.0,
    }


def test_rejects_non_square():
    with pytest.raises(ValueError):
        M.forgetting([[0.1, 0.2]])


# FSCIL: session 0 = base classes (test size 300), then two 1-way sessions (100 each)
F = [
    [0.9, 0.0, 0.0],
    [0.8, 0.5, 0.0],
    [0.7, 0.4, 0.6],
]
F_SIZES = [300, 100, 100]


def test_fscil_base_novel_and_harmonic_mean():
    m = M.kind_metrics("fscil", F, F_SIZES)
    assert m["base_accuracy"] == pytest.approx([0.9, 0.8, 0.7])
    # session 2: novel pooled over experiences 1, 2: (40 + 60) / 200 = 0.5
    assert m["novel_accuracy"][0] is None
    assert m["novel_accuracy"][1:] == pytest.approx([0.5, 0.5])
    # 2ab/(a+b): session 1: 0.8/1.3; session 2: 0.7/1.2
    assert m["harmonic_mean"][0] is None
    assert m["harmonic_mean"][1:] == pytest.approx([0.8 / 1.3, 0.7 / 1.2])
    assert m["final_base_accuracy"] == pytest.approx(0.7)
    assert m["final_novel_accuracy"] == pytest.approx(0.5)
    assert m["final_harmonic_mean"] == pytest.approx(0.7 / 1.2)


def test_fscil_performance_drop():
    # seen after session 0: 0.9; after 2: (210 + 40 + 60) / 500 = 0.62; PD = 0.28
    assert M.kind_metrics("fscil", F, F_SIZES)["performance_drop"] == pytest.approx(0.28)


def test_fscil_edge_cases():
    assert M.harmonic_mean(0.0, 0.0) == 0.0
    m = M.fscil_metrics([[0.7]], [10])
    assert m["novel_accuracy"] == [None] and m["final_harmonic_mean"] is None
    assert m["performance_drop"] == 0.0
    assert M.kind_metrics("class-il", F, F_SIZES) == {}


def test_ctta_domain_errors():
    # error on domain i when the stream reaches it: 1 - A[i][i]
    acc = [[0.9, 0.5, 0.2], [0.8, 0.6, 0.3], [0.7, 0.6, 0.4]]
    out = M.ctta_metrics(acc, [10, 10, 10])
    assert out["domain_error"] == pytest.approx([0.1, 0.4, 0.6])
    assert out["mean_error"] == pytest.approx(1.1 / 3)
    assert M.kind_metrics("ctta", acc, [10, 10, 10]) == out
