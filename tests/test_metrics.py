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
