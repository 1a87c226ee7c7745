"""CTTA strategies tent and vdp: the pure math by hand, the mechanics on a small CNN."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from conftest import quick_cfg

from clbench.augment import cotta_view
from clbench.errors import ClbenchError
from strategies.tent import Tent
from strategies.tta import (
    ema_update,
    needs_augmentation,
    pseudo_labels,
    soft_cross_entropy,
    softmax_entropy,
    stochastic_restore,
)
from strategies.vdp import (
    VDP,
    apply_prompts,
    homeostasis_penalty,
    homeostasis_update,
    prompt_mask,
)

# -- pure functions against hand-computed values ----------------------------------------------


def test_entropy_and_soft_cross_entropy_by_hand():
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])  # p = (.5, .5), (.75, .25)
    h = softmax_entropy(logits)
    assert h[0].item() == pytest.approx(math.log(2))
    assert h[1].item() == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    teacher = torch.tensor([[0.0, 0.0]])
    student = torch.tensor([[math.log(3.0), 0.0]])
    want = -(0.5 * math.log(0.75) + 0.5 * math.log(0.25))
    assert soft_cross_entropy(student, teacher).item() == pytest.approx(want)


def test_prompt_mask_and_apply_prompts_by_hand():
    full = prompt_mask((1, 4, 4), 0)
    assert full.shape == (1, 1, 4, 4) and full.sum() == 16
    frame = prompt_mask((1, 4, 4), 1)
    assert frame[0, 0].tolist() == [[1, 1, 1, 1], [1, 0, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]]
    assert prompt_mask((1, 4, 4), 2).sum() == 16  # a frame that covers everything
    x = torch.ones(2, 1, 4, 4)
    out = apply_prompts(x, torch.full((1, 1, 4, 4), 2.0), torch.full((1, 1, 4, 4), 3.0), frame)
    assert torch.equal(out, 1 + 5 * frame.expand(2, 1, 4, 4))


def test_ema_and_homeostasis_by_hand():
    assert ema_update(torch.tensor(1.0), torch.tensor(3.0), 0.9).item() == pytest.approx(1.2)
    omega = homeostasis_update(torch.tensor([1.0, 0.0]), torch.tensor([2.0, 1.0]), 0.5)
    assert omega.tolist() == [2.5, 0.5]
    # w = omega / mean(omega) = (1.5, 0.5); 2 * (1.5 * 1 + 0.5 * 1) = 4
    pen = homeostasis_penalty(torch.ones(2), torch.zeros(2), torch.tensor([3.0, 1.0]), 2.0)
    assert pen.item() == pytest.approx(4.0)
    assert homeostasis_penalty(torch.ones(2), torch.zeros(2), torch.zeros(2), 2.0).item() == 0.0


def test_homeostasis_shrinks_the_move_of_sensitive_entries():
    """Both entries feel the same pull; the one with the larger Omega moves less."""
    p = torch.zeros(2, requires_grad=True)
    old, omega = torch.zeros(2), torch.tensor([10.0, 0.1])
    opt = torch.optim.SGD([p], lr=0.01)
    for _ in range(100):
        opt.zero_grad()
        (-p.sum() + homeostasis_penalty(p, old, omega, 1.0)).backward()
        opt.step()
    moved = p.detach().abs()
    assert moved[0] < 0.3 * moved[1], moved
    # at equilibrium 2 * lam * w_i * p_i = 1, w = (10, 0.1) / 5.05
    assert moved[0].item() == pytest.approx(5.05 / 20, rel=0.05)


def test_pseudo_labels_average_only_when_unsure():
    standard = torch.tensor([[1.0, 0.0]])
    augmented = torch.tensor([[[1.0, 3.0]], [[3.0, 1.0]]])  # 2 copies of a batch of 1
    unsure, sure = torch.tensor([0.5, 0.7]), torch.tensor([0.95, 0.97])
    assert needs_augmentation(unsure, 0.92) and not needs_augmentation(sure, 0.92)
    assert pseudo_labels(standard, augmented, unsure, 0.92).tolist() == [[2.0, 2.0]]
    assert pseudo_labels(standard, augmented, sure, 0.92) is standard
    with pytest.raises(ValueError):
        pseudo_labels(standard, None, unsure, 0.92)


def test_stochastic_restore_and_augment():
    g = torch.Generator().manual_seed(0)
    p, src = torch.full((100,), 5.0), torch.zeros(100)
    assert torch.equal(stochastic_restore(p, src, 0.0, g), p)
    assert torch.equal(stochastic_restore(p, src, 1.0, g), src)
    assert 20 < (stochastic_restore(p, src, 0.5, g) == 0).sum() < 80
    x = torch.rand(8, 1, 28, 28)
    a = cotta_view(x, torch.Generator().manual_seed(1), [0.5], [0.25], flip=False)
    b = cotta_view(x, torch.Generator().manual_seed(1), [0.5], [0.25], flip=False)
    assert a.shape == x.shape and torch.equal(a, b)  # seeded: reproducible
    pixels = a * 0.25 + 0.5
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6 and not torch.equal(a, x)


# -- mechanics on the small CNN ---------------------------------------------------------------


def _model(cls, tmp_path, *overrides):
    cfg = quick_cfg(cls.__name__.lower(), "mnist-5k-c", tmp_path, *overrides)
    scenario = SimpleNamespace(
        input_shape=(1, 28, 28),
        num_classes=10,
        info={"normalization": {"mean": [0.1307], "std": [0.3081]}},
    )
    torch.manual_seed(0)
    model = cls(cfg, scenario)
    model.before_experience(SimpleNamespace(index=0, train=range(16)))
    return model


def test_vdp_trains_only_the_prompts_and_the_teacher_is_their_ema(tmp_path):
    model = _model(VDP, tmp_path, "strategy.n_augmentations=2", "strategy.restore_prob=0")
    model.train()
    assert not model.backbone.training  # the source model stays in eval mode (BN frozen)
    source = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["prompt_specific", "prompt_agnostic"]
    opt = model.configure_optimizers()
    m = model.params.ema_momentum
    teacher = torch.zeros(1, 1, 28, 28)
    x = torch.randn(16, 1, 28, 28)
    for step in range(3):
        opt.zero_grad()
        model.adapt_step(x).backward()
        assert all(p.grad is None for p in model.backbone.parameters())
        assert model.prompt_agnostic.grad is not None and model.prompt_agnostic.grad.abs().sum() > 0
        opt.step()
        model.on_train_batch_end(None, [x], step)
        teacher = m * teacher + (1 - m) * model.prompt_agnostic.detach()
        assert torch.allclose(model.teacher_agnostic, teacher, atol=1e-7)
    assert model.omega.sum() > 0 and model.prompt_specific.abs().sum() > 0
    for k, v in model.backbone.state_dict().items():  # BN running statistics included
        assert torch.equal(v, source[k]), k
    keys = set(model.state_dict())
    for k in (
        "prompt_specific",
        "prompt_agnostic",
        "teacher_specific",
        "teacher_agnostic",
        "omega",
        "adapting",
    ):
        assert k in keys


def test_tent_trains_bn_affine_with_batch_statistics(tmp_path):
    model = _model(Tent, tmp_path)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".weight" in n or ".bias" in n for n in trainable)
    assert len(trainable) == 2 * len(model.norms)
    model.eval()  # what the runner does before predicting: BN must still use batch statistics
    assert all(bn.training for bn in model.norms)
    running = model.norms[0].running_mean.clone()
    x = torch.randn(32, 1, 28, 28) * 3 + 1
    opt = model.configure_optimizers()
    loss = model.adapt_step(x)
    loss.backward()
    opt.step()
    assert torch.equal(model.norms[0].running_mean, running)  # source statistics untouched
    # batch statistics: a sample's logits depend on the rest of its batch (not with running stats)
    with torch.no_grad():
        other = torch.cat([x[:1], x[1:] * 5])
        assert not torch.allclose(model(x)[0], model(other)[0])


def test_tta_refuses_ddp_and_backbones_without_bn(tmp_path):
    model = _model(VDP, tmp_path)
    model._trainer = SimpleNamespace(world_size=2)
    with pytest.raises(ClbenchError, match="not exact under DDP"):
        model.setup("fit")
    with pytest.raises(ClbenchError, match="BatchNorm"):
        _model(Tent, tmp_path, "backbone.name=mlp")


def test_vdp_bn_statistics_and_flip_auto(tmp_path):
    """bn_stats=batch (CoTTA's scaffold): BN normalises with the test batch, also when the
    runner predicts in eval mode, and never touches the running statistics; bn_stats=source
    keeps them. flip=auto: no flips for 1-channel digits."""
    x = torch.randn(32, 1, 28, 28) * 3 + 1
    other = torch.cat([x[:1], x[1:] * 5])
    batch = _model(VDP, tmp_path)
    assert not batch._flip and batch.params.flip == "auto"
    running = batch.norms[0].running_mean.clone()
    batch.eval()
    assert all(bn.training for bn in batch.norms) and not batch.backbone.training
    with torch.no_grad():
        assert not torch.allclose(batch(x)[0], batch(other)[0])
    assert torch.equal(batch.norms[0].running_mean, running)
    assert all(not p.requires_grad for bn in batch.norms for p in bn.parameters())
    source = _model(VDP, tmp_path, "strategy.bn_stats=source", "strategy.flip=true")
    source.eval()
    assert source._flip and not any(bn.training for bn in source.norms)
    with torch.no_grad():
        assert torch.allclose(source(x)[0], source(other)[0])
    with pytest.raises(ClbenchError, match="bn_stats"):
        _model(VDP, tmp_path, "strategy.bn_stats=running")
    with pytest.raises(ClbenchError, match="flip"):
        _model(VDP, tmp_path, "strategy.flip=maybe")
