"""TEEN's prototype calibration against the hand-computed values of the method notes."""

import pytest
import torch
from conftest import toy_fscil

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


def _toy(strategy):
    return toy_fscil(strategy, hidden_dim=8)


def test_teen_rows_are_means_then_calibrated_and_base_rows_stay_put():
    model, exps = _toy("teen")
    model.eval()
    for e in exps:
        model.before_experience(e)
        assert model.train_epochs(e) == (model.cfg.train.epochs if e.index == 0 else 0)
        model.after_experience(e)
        if e.index == 0:
            base = model.head.weight[[0, 1]].clone()
            x, y = e.train.tensors
            with torch.no_grad():
                f = model.backbone(x)
            for c in (0, 1):  # raw (unnormalised) class means
                assert torch.allclose(model.head.weight[c], f[y == c].mean(0), atol=1e-5)
        else:
            x = e.train.tensors[0]
            with torch.no_grad():
                shots = model.backbone(x).mean(0, keepdim=True)
            want = calibrate(base, shots, 0.1, 16.0)[0]
            assert torch.allclose(model.head.weight[e.classes[0]], want, atol=1e-5)
            assert torch.equal(model.head.weight[[0, 1]], base)  # bit-identical
    assert model.seen.all()
    pred = model.predict(exps[0].test.tensors[0])
    assert set(pred.tolist()) <= {0, 1, 2, 3}


def test_nmc_means_of_normalised_features_and_no_training():
    import torch.nn.functional as F

    model, exps = _toy("nmc")
    assert not any(p.requires_grad for p in model.parameters())
    for e in exps:
        assert model.train_epochs(e) == 0
        model.after_experience(e)
    x, y = (
        torch.cat([e.train.tensors[0] for e in exps]),
        torch.cat([e.train.tensors[1] for e in exps]),
    )
    with torch.no_grad():
        f = F.normalize(model.backbone(x), dim=1)
    for c in range(4):
        assert torch.allclose(model.table.means()[c], f[y == c].mean(0), atol=1e-6)
    model.predict(x)
    model.predict(x)
    assert model.cache.encoded == len(x)  # a frozen backbone encodes each input once
