"""TEEN's prototype calibration against the hand-computed values of the method notes."""

import pytest
import torch

from strategies.teen import calibrate

BASE = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
NEW = torch.tensor([[3.0, 4.0]])


@pytest.mark.parametrize(
    "alpha, tau, expected",
    [
        (0.1, 16.0, (0.544073, 0.819917)),
        (0.5, 16.0, (0.320364, 0.899585)),
        (0.0, 16.0, (0.6, 0.8)),
        (1.0, 0.0, (0.7071068, 0.7071068)),
    ],
)
def test_calibrate_hand_values(alpha, tau, expected):
    out = calibrate(BASE, NEW, alpha, tau)
    assert out.shape == (1, 2)
    assert out[0].tolist() == pytest.approx(expected, abs=1e-5)


def test_calibrate_ignores_base_scale_and_leaves_base_untouched():
    base = BASE.clone()
    a = calibrate(base, NEW, 0.5, 16.0)
    b = calibrate(base * torch.tensor([[7.0], [0.1]]), NEW, 0.5, 16.0)
    assert torch.allclose(a, b)
    assert torch.equal(base, BASE)


def test_calibrate_several_new_prototypes_independently():
    new = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    out = calibrate(BASE, new, 0.1, 16.0)
    assert torch.allclose(out[0], calibrate(BASE, new[:1], 0.1, 16.0)[0])
    assert torch.allclose(out[1], calibrate(BASE, new[1:], 0.1, 16.0)[0])
