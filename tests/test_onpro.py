"""OnPro's math against hand-computed values on tiny tensors, and its strategy state."""

import math

import pytest
import torch

from strategies.onpro import (
    allocate_pairs,
    class_prototypes,
    gather_global_batch,
    inbatch_mixup_lambdas,
    mix,
    mixup_cross_entropy,
    pair_probabilities,
    prototype_contrast_loss,
    rotation_views,
    supervised_nt_xent,
)


def test_class_prototypes_are_sorted_class_means():
    z = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    classes, means = class_prototypes(z, torch.tensor([1, 1, 0]))
    assert classes.tolist() == [0, 1]
    assert torch.allclose(means, torch.tensor([[0.0, 2.0], [2.0, 0.0]]))


def test_prototype_loss_orthogonal_identical_views():
    # K = 4 orthogonal prototypes, identical views, T = 0.5: each anchor has the positive at
    # logit 1/0.5 = 2 and 2K - 2 = 6 negatives at 0 -> -log(e^2 / (e^2 + 6)) = 0.5944
    p = torch.eye(4) * 3.0  # scale does not matter: prototypes are normalised
    loss = prototype_contrast_loss(p, p.clone(), 0.5)
    assert loss.item() == pytest.approx(-math.log(math.e**2 / (math.e**2 + 6)), abs=1e-5)
    assert loss.item() == pytest.approx(0.5944, abs=1e-4)


def test_prototype_loss_two_classes_hand_computed():
    # view 1: e1, e2; view 2: e1, (e1 + e2)/sqrt(2); T = 1
    c = 1 / math.sqrt(2)
    p1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p2 = torch.tensor([[1.0, 0.0], [c, c]])
    # anchor p1_0: others p1_1 (0), p2_0 (1, positive), p2_1 (c)
    a0 = -math.log(math.e / (1 + math.e + math.exp(c)))
    # anchor p1_1: others p1_0 (0), p2_0 (0), p2_1 (c, positive)
    a1 = -math.log(math.exp(c) / (2 + math.exp(c)))
    # anchor p2_0: others p1_0 (1, positive), p1_1 (0), p2_1 (c)
    a2 = a0
    # anchor p2_1: others p1_0 (c), p1_1 (c, positive), p2_0 (c)
    a3 = math.log(3)
    expected = (a0 + a1 + a2 + a3) / 4
    assert prototype_contrast_loss(p1, p2, 1.0).item() == pytest.approx(expected, abs=1e-5)


def test_prototype_loss_single_class_is_zero():
    assert prototype_contrast_loss(torch.ones(1, 3), torch.ones(1, 3), 0.5).item() == 0.0


def test_pair_probabilities_hand_computed():
    mu = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    pairs, probs = pair_probabilities(mu)
    assert pairs.tolist() == [[0, 1], [0, 2], [1, 2]]
    inv = torch.tensor([1.0, 1 / 2.0, 1 / math.sqrt(5)], dtype=torch.float64)
    assert torch.allclose(probs, torch.softmax(inv, 0))


def test_closest_pair_takes_all_mixed_slots():
    mu = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [0.0, 5.0]])
    pairs, probs = pair_probabilities(mu)
    counts = allocate_pairs(probs, 16, torch.Generator().manual_seed(0))
    assert pairs[counts.argmax()].tolist() == [0, 1]
    assert counts.tolist() == [16, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("seed", range(20))
def test_allocation_sums_exactly(seed):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(10, generator=g) * 3, 0)
    n = int(torch.randint(1, 40, (1,), generator=g))
    counts = allocate_pairs(probs, n, g)
    assert int(counts.sum()) == n and bool((counts >= 0).all())


def test_allocation_fix_ups_hand_computed():
    g = torch.Generator().manual_seed(0)
    # round(64/3) = 21 three times = 63: one pair gets +1
    assert sorted(allocate_pairs(torch.full((3,), 1 / 3), 64, g).tolist()) == [21, 21, 22]
    # round(1.5) = 2 twice = 4 > 3: one pair gets -1
    assert sorted(allocate_pairs(torch.tensor([0.5, 0.5]), 3, g).tolist()) == [1, 2]


def test_mix_and_mixup_cross_entropy():
    out = mix(torch.zeros(3, 1, 2, 2), torch.ones(3, 1, 2, 2), torch.tensor([0.0, 0.25, 1.0]))
    assert out[:, 0, 0, 0].tolist() == [0.0, 0.25, 1.0]
    logits = torch.tensor([[2.0, 0.0]])
    loss = mixup_cross_entropy(logits, torch.tensor([0]), torch.tensor([1]), torch.tensor([0.25]))
    expected = 0.75 * math.log(1 + math.exp(-2)) + 0.25 * math.log(1 + math.exp(2))
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_supervised_nt_xent_hand_computed():
    sim = torch.zeros(4, 4)  # B = 2 samples, two views, all similarities equal
    labels = torch.tensor([0, 1])
    # self excluded: S = log 3 off the diagonal; positives per row {self, other view} ->
    # (0 + log 3)/2 per row, 4 rows / B = log 3; cross-view term: mean of four log 3 = log 3
    assert supervised_nt_xent(sim, labels, 1.0, True).item() == pytest.approx(2 * math.log(3))
    # self kept: S = log 4 everywhere; 4 rows of log 4 / 2B
    assert supervised_nt_xent(sim, labels, 1.0, False).item() == pytest.approx(math.log(4))


def test_supervised_nt_xent_rewards_aligned_views():
    labels = torch.tensor([0, 1])
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    aligned = supervised_nt_xent(z @ z.t(), labels, 0.1, True)
    swapped = z[[0, 1, 3, 2]]
    assert aligned < supervised_nt_xent(swapped @ swapped.t(), labels, 0.1, True)


def test_rotation_views_hand_computed():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    r16 = rotation_views(x, 16)
    assert r16.shape == (16, 1, 2, 2)
    assert r16[0, 0].tolist() == [[1, 2], [3, 4]]
    assert r16[1, 0].tolist() == [[3, 2], [1, 4]]  # left half turned 180 degrees
    assert r16[2, 0].tolist() == [[3, 4], [1, 2]]  # both halves turned
    assert r16[3, 0].tolist() == [[1, 4], [3, 2]]  # right half turned
    assert r16[4, 0].tolist() == [[4, 3], [2, 1]]  # block 1 of rotations: 180 degrees
    r4 = rotation_views(x, 4)
    assert r4[2, 0].tolist() == [[2, 4], [1, 3]]  # 90 degrees (torch.rot90, k=1)
    assert rotation_views(x, 1) is x


def test_inbatch_mixup_lambdas_gate_batch_then_samples():
    g = torch.Generator().manual_seed(0)
    partner, lam = inbatch_mixup_lambdas(6, 1.0, 0.2, 0.4, g)
    assert sorted(partner.tolist()) == list(range(6))
    assert bool(((lam >= 0.2) & (lam <= 0.4)).all())  # p = 1: every sample mixed
    assert not inbatch_mixup_lambdas(6, 0.0, 0.2, 0.4, g)[1].any()  # p = 0: none
    # p = 0.6 (kornia 0.6.8 semantics): a batch is mixed at all with probability 0.6, and
    # inside it each sample with probability 0.6, so 0.36 of all samples
    batches = [inbatch_mixup_lambdas(50, 0.6, 0.0, 0.6, g)[1] > 0 for _ in range(2000)]
    untouched = sum(not b.any() for b in batches) / len(batches)
    mixed = sum(int(b.sum()) for b in batches) / (50 * len(batches))
    assert untouched == pytest.approx(0.4, abs=0.04)
    assert mixed == pytest.approx(0.36, abs=0.02)


def test_gather_is_identity_outside_ddp():
    x, y = torch.randn(3, 2), torch.arange(3)
    gx, gy = gather_global_batch(x, y)
    assert gx is x and gy is y


def _strategy(*overrides):
    from conftest import quick_cfg

    from strategies.onpro import OnPro

    cfg = quick_cfg("onpro", "split-digits", "/tmp/unused", *overrides)
    scenario = type("S", (), {"input_shape": (1, 8, 8), "num_classes": 10, "info": {}})()
    torch.manual_seed(0)
    return OnPro(cfg, scenario)


def test_loss_runs_fills_buffer_and_state_round_trips():
    from clbench.stream import Experience

    m = _strategy("strategy.buffer_size=30", "strategy.ins_views=4")
    g = torch.Generator().manual_seed(0)
    for index in range(2):
        exp = Experience(index, [2 * index, 2 * index + 1], None, None)
        m.before_experience(exp)
        for _ in range(4):
            x = torch.randn(10, 1, 8, 8, generator=g)
            y = torch.randint(2 * index, 2 * index + 2, (10,), generator=g)
            loss = m.loss(x, y)
            assert torch.isfinite(loss)
            loss.backward()
    assert len(m.buffer) == 30 and m.buffer.n_seen == 80
    assert m.seen.tolist() == [True] * 4 + [False] * 6
    other = _strategy("strategy.buffer_size=30", "strategy.ins_views=4")
    other.load_state_dict(m.state_dict())
    assert torch.equal(other.buffer.x, m.buffer.x) and other.buffer.n_seen == 80
    assert torch.equal(other.seen, m.seen)


def test_apf_batch_shapes_and_labels():
    from clbench.stream import Experience

    m = _strategy("strategy.buffer_size=40", "strategy.ins_views=0")
    m.before_experience(Experience(0, [0, 1, 2, 3], None, None))
    x = torch.randn(40, 1, 8, 8)
    y = torch.arange(40) % 4
    m.buffer.add(x, y, torch.Generator().manual_seed(0))
    mu = torch.eye(4)
    mu[1] = mu[0] + 0.01  # classes 0 and 1 are the confusable pair
    ax, ya, yb, lam = m._apf(x[:20], y[:20], torch.arange(4), mu)
    assert ax.shape == (20, 1, 8, 8) and len(ya) == len(yb) == len(lam) == 20
    n_base = int(20 * m.params.mixup_base_rate)
    assert ya[n_base:].tolist() == [0] * (20 - n_base) and yb[n_base:].tolist() == [1] * (
        20 - n_base
    )
    assert bool(((lam >= 0) & (lam <= 1)).all())


def test_apf_replaces_a_class_that_left_the_buffer():
    # μ knows classes 0-3, the buffer holds only 0, 2 and 3 now: the confusable pair (0, 1)
    # is rehearsed with a random class of μ still in the buffer in place of 1 (as the code)
    from clbench.stream import Experience

    m = _strategy("strategy.buffer_size=30", "strategy.ins_views=0")
    m.before_experience(Experience(1, [2, 3], None, None))
    y = torch.tensor([0, 2, 3] * 10)
    x = y.float().view(-1, 1, 1, 1).expand(30, 1, 8, 8).clone()  # pixels = label
    m.buffer.add(x, y, torch.Generator().manual_seed(0))
    mu = torch.eye(4)
    mu[1] = mu[0] + 0.01
    ax, ya, yb, lam = m._apf(x[:20], y[:20], torch.arange(4), mu)
    n_base = int(20 * m.params.mixup_base_rate)
    assert ya[n_base:].tolist() == [0] * (20 - n_base)
    assert set(yb[n_base:].tolist()) <= {0, 2, 3} and len(set(yb[n_base:].tolist())) == 1
    # the mixed pixels match the labels they carry
    expect = (1 - lam) * ya.float() + lam * yb.float()
    assert torch.allclose(ax[:, 0, 0, 0], expect, atol=1e-6)


@pytest.mark.parametrize(
    "override, message",
    [
        ("strategy.ins_views=3", "ins_views"),
        ("strategy.mixup_p=2", "mixup_p"),
        ("strategy.augment=nope", "augment"),
        ("strategy.proj_dim=10000", "proj_dim"),
    ],
)
def test_bad_settings_are_one_line_errors(override, message):
    from clbench.errors import ClbenchError

    with pytest.raises(ClbenchError, match=message):
        _strategy(override)
