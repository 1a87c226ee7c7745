"""fscil-tricks: the pure functions against hand-computed values; the strategy's mechanics on a
toy stream (SubNet tuning moves only the mask; all tricks off is the frozen prototype rule)."""

import math

import pytest
import torch
from conftest import toy_fscil

from strategies.fscil_tricks import (
    pseudo_mix,
    rotation_batch,
    simplex_etf,
    sparse_masks,
    supcon_loss,
)


@pytest.mark.parametrize("k, d", [(2, 2), (4, 4), (5, 16), (16, 400)])
def test_simplex_etf_unit_norms_equal_angles_rank(k, d):
    m = simplex_etf(k, d, seed=3)
    assert m.shape == (k, d)
    g = m.double() @ m.double().T
    want = torch.full((k, k), -1.0 / (k - 1), dtype=torch.float64)
    want.fill_diagonal_(1.0)
    assert torch.allclose(g, want, atol=1e-6)
    assert torch.linalg.matrix_rank(m.double(), tol=1e-6) == k - 1
    assert torch.allclose(m.sum(0), torch.zeros(d), atol=1e-5)  # centred
    assert torch.equal(m, simplex_etf(k, d, seed=3))  # seeded: the same on every process


def test_simplex_etf_needs_room():
    from clbench.errors import ClbenchError

    with pytest.raises(ClbenchError, match="feature dimension"):
        simplex_etf(10, 5)


def test_supcon_hand_value():
    # Two pairs of identical unit vectors, orthogonal across classes, tau = 1: every anchor has
    # one positive at similarity 1 and two negatives at 0, so the loss is log(e + 2) - 1.
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert supcon_loss(z, y, 1.0).item() == pytest.approx(math.log(math.e + 2) - 1, abs=1e-6)
    # tau = 0.5: log(e^2 + 2) - 2
    assert supcon_loss(z, y, 0.5).item() == pytest.approx(math.log(math.e**2 + 2) - 2, abs=1e-6)


def test_supcon_anchor_without_positive_is_skipped_and_two_positives_average():
    # Anchor 0 has positives 1 (sim 1) and 2 (sim 0), negative 3 (sim 0); anchor 3 has none.
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    y = torch.tensor([0, 0, 0, 1])
    lse0 = math.log(math.e + 2)  # anchor 0 (and 1): exp(1) + exp(0) + exp(0)
    a0 = -((1 - lse0) + (0 - lse0)) / 2
    lse2 = math.log(1 + 1 + math.e)  # anchor 2: sims 0, 0, 1 (to 0, 1, 3)
    a2 = -((0 - lse2) + (0 - lse2)) / 2
    want = (a0 + a0 + a2) / 3
    assert supcon_loss(z, y, 1.0).item() == pytest.approx(want, abs=1e-6)
    assert supcon_loss(z[:1], y[:1], 1.0).item() == 0.0


def test_rotation_batch_images_and_labels():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # [1, 1, 2, 2]
    xs, ys = rotation_batch(x, torch.tensor([2]))
    assert ys.tolist() == [8, 9, 10, 11]
    assert xs[0, 0].tolist() == [[1, 2], [3, 4]]
    assert xs[1, 0].tolist() == [[2, 4], [1, 3]]  # 90 degrees counter-clockwise
    assert xs[2, 0].tolist() == [[4, 3], [2, 1]]
    assert xs[3, 0].tolist() == [[3, 1], [4, 2]]


def test_pseudo_mix_hand_values():
    x = torch.tensor([[0.0], [2.0], [4.0], [8.0]])
    y = torch.tensor([0, 1, 1, 3])
    perm = torch.tensor([1, 2, 0, 0])  # pairs (0,1) (1,1) (1,0) (3,0)
    xm, ym = pseudo_mix(x, y, perm, num_real=4, n_pseudo=3)
    assert xm.flatten().tolist() == [1.0, 2.0, 4.0]  # the same-class pair is dropped
    # pair (0,1): 4 + (0*4+1)%3 = 5; pair (0,1) again: 5; pair (0,3): 4 + 3%3 = 4
    assert ym.tolist() == [5, 5, 4]


def test_sparse_masks_smallest_magnitudes():
    w = [torch.tensor([0.5, -0.1, 0.3, -0.9]), torch.tensor([[1.0, -2.0], [0.0, 3.0]])]
    m = sparse_masks(w, 0.5)
    assert m[0].tolist() == [False, True, True, False]
    assert m[1].tolist() == [[True, False], [True, False]]
    assert sparse_masks(w, 0.0)[0].sum() == 0 and sparse_masks(w, 1.0)[0].all()


def _toy(**switches):
    """fscil-tricks on the toy stream, with the given trick switches."""
    return toy_fscil(
        "fscil-tricks", *[f"strategy.{k}={str(v).lower()}" for k, v in switches.items()]
    )


def test_all_tricks_base_loss_is_finite_and_reaches_every_module():
    model, exps = _toy(supcon=True, etf=True, pseudo_classes=True, rotation=True, subnet=True)
    model.before_experience(exps[0])
    x, y = exps[0].train.tensors
    loss = model.loss(x, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert model.head.weight.grad is None  # ETF rows are fixed
    assert model.proj[0].weight.grad.abs().sum() > 0
    assert model.rot_head.weight.grad.abs().sum() > 0


def test_subnet_step_moves_only_the_mask():
    model, exps = _toy(subnet=True)
    model.before_experience(exps[0])
    model.after_experience(exps[0])  # base session (untrained here): masks chosen, frozen
    masks = model._mask_list()
    assert all(m.float().mean() == pytest.approx(0.1, abs=0.02) for m in masks)
    model.before_experience(exps[1])
    assert model.train_epochs(exps[1]) == model.params.subnet_epochs
    before = {k: v.clone() for k, v in model.state_dict().items() if torch.is_tensor(v)}
    opt = model.configure_optimizers()
    x, y = exps[1].train.tensors
    model.loss(x, y).backward()
    model.on_after_backward()
    opt.step()
    after = model.state_dict()
    moved = 0
    names = [next(k for k, v in model.named_parameters() if v is w) for w in model._tunable]
    for name, m in zip(names, masks, strict=True):
        assert torch.equal(after[name][~m], before[name][~m])  # bit-identical outside
        moved += int((after[name][m] != before[name][m]).sum())
    assert moved > 0
    for k in before:  # every other tensor is untouched
        if k not in names:
            assert torch.equal(after[k], before[k]), k


def test_all_off_is_the_frozen_prototype_baseline():
    model, exps = _toy()
    for e in exps:
        model.before_experience(e)
        model.after_experience(e)
        # frozen after the base session: only the base session trains (a function of the
        # experience, so that the step plan knows it before the stream)
        assert model.train_epochs(e) == (model.cfg.train.epochs if e.index == 0 else 0)
    x = torch.cat([e.train.tensors[0] for e in exps])
    y = torch.cat([e.train.tensors[1] for e in exps])
    with torch.no_grad():
        f = model.backbone(x)
    means = torch.stack([f[y == c].mean(0) for c in range(4)])
    assert torch.allclose(model.protos, means, atol=1e-5)
    want = torch.nn.functional.normalize(f, dim=1) @ torch.nn.functional.normalize(means, dim=1).T
    assert torch.equal(model.predict(x), want.argmax(1))
    assert not any(p.requires_grad for p in model.parameters())


def test_state_dict_round_trip_resumes_mid_stream():
    """A fresh model loaded with the state after session 1 (as the runner resumes) continues
    exactly like the uninterrupted one: prototypes, seen classes, masks, frozen flags."""
    switches = dict(subnet=True, etf=True, pseudo_classes=True)
    model, exps = _toy(**switches)
    for e in exps[:2]:
        model.before_experience(e)
        model.after_experience(e)
    fresh, _ = _toy(**switches)
    fresh.load_state_dict(model.state_dict())
    fresh.restore(exps[:2])
    for m in (model, fresh):
        m.before_experience(exps[2])
        torch.manual_seed(1)
        opt = m.configure_optimizers()
        x, y = exps[2].train.tensors
        m.loss(x, y).backward()
        m.on_after_backward()
        opt.step()
        m.after_experience(exps[2])
    a, b = model.state_dict(), fresh.state_dict()
    assert a.keys() == b.keys() and all(
        torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a
    )
    assert [p.requires_grad for p in model.parameters()] == [
        p.requires_grad for p in fresh.parameters()
    ]
    x = torch.cat([e.test.tensors[0] for e in exps])
    assert torch.equal(model.predict(x), fresh.predict(x))
