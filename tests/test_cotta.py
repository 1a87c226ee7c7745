"""CoTTA: the restore, the EMA teacher and the augmentation switch by hand; the mechanics on a
small CNN (what is adapted, BN statistics, the online prediction, DDP refused)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from conftest import quick_cfg

from clbench.augment import cotta_view
from clbench.errors import ClbenchError
from strategies.cotta import CoTTA
from strategies.frozen import FrozenCopy
from strategies.tta import stochastic_restore, teacher_pseudo_labels


def test_stochastic_restore_resets_exactly_the_drawn_entries():
    # torch.rand(6) with seed 0: 0.4963 0.7682 0.0885 0.1320 0.3074 0.6341
    draws = torch.rand(6, generator=torch.Generator().manual_seed(0))
    assert [round(v, 4) for v in draws.tolist()] == [0.4963, 0.7682, 0.0885, 0.132, 0.3074, 0.6341]
    w, source = torch.arange(1.0, 7.0), torch.zeros(6)
    # p = 0.3: the entries drawn below 0.3 (2 and 3) return to the source value
    out = stochastic_restore(w, source, 0.3, torch.Generator().manual_seed(0))
    assert out.tolist() == [1.0, 2.0, 0.0, 0.0, 5.0, 6.0]
    out = stochastic_restore(w, source, 0.5, torch.Generator().manual_seed(0))
    assert out.tolist() == [0.0, 2.0, 0.0, 0.0, 0.0, 6.0]
    g = torch.Generator().manual_seed(1)
    assert torch.equal(stochastic_restore(w, source, 0.0, g), w)  # p = 0: nothing
    assert torch.equal(stochastic_restore(w, source, 1.0, g), source)  # p = 1: everything


def test_ema_teacher_formula():
    # teacher <- 0.9 * teacher + 0.1 * student: 0.9 * 1 + 0.1 * 3 = 1.2
    student = torch.nn.Linear(1, 1, bias=False)
    teacher = FrozenCopy(student, torch.nn.Identity())
    with torch.no_grad():
        teacher.backbone.weight.fill_(1.0)
        student.weight.fill_(3.0)
    teacher.ema(student, torch.nn.Identity(), 0.9)
    assert teacher.backbone.weight.item() == pytest.approx(1.2)
    assert student.weight.item() == 3.0  # the student is untouched


def test_augmentation_averaging_switch():
    x = torch.tensor([[1.0, 2.0]])
    views = []

    def view(v: torch.Tensor) -> torch.Tensor:
        views.append(len(views))
        return v * (len(views) + 1)  # the k-th view scales by k + 1

    def teacher(v: torch.Tensor) -> torch.Tensor:
        return v

    unsure = torch.tensor([0.5, 0.6])  # mean 0.55 < 0.92: averaged over 3 views
    out = teacher_pseudo_labels(teacher, x, unsure, 0.92, 3, view)
    assert out.tolist() == [[3.0, 6.0]]  # (2 + 3 + 4) / 3 = 3 times x
    assert views == [0, 1, 2]
    sure = torch.tensor([0.95, 0.97])  # mean 0.96 >= 0.92: the un-augmented output, no draws
    views.clear()
    assert teacher_pseudo_labels(teacher, x, sure, 0.92, 3, view).tolist() == [[1.0, 2.0]]
    assert views == []
    assert teacher_pseudo_labels(teacher, x, unsure, 0.92, 0, view).tolist() == [[1.0, 2.0]]
    assert views == []


def _model(tmp_path, *overrides):
    cfg = quick_cfg("cotta", "mnist-5k-c", tmp_path, "strategy.n_augmentations=2", *overrides)
    scenario = SimpleNamespace(
        input_shape=(1, 28, 28),
        num_classes=10,
        info={"normalization": {"mean": [0.1307], "std": [0.3081]}},
    )
    torch.manual_seed(0)
    model = CoTTA(cfg, scenario)
    model.start_experience(0)
    model.before_experience(SimpleNamespace(index=0, train=range(16)))
    model.train()
    return model


def _step(model, x, lr=0.05):
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    loss = model.adapt_step(x)
    opt.zero_grad()
    loss.backward()
    opt.step()
    model.on_train_batch_end(None, None, 0)
    return loss


def _weights(modules):
    return [p.detach().clone() for m in modules for p in m.parameters()]


def test_adapts_every_weight_with_batch_statistics_and_keeps_the_source(tmp_path):
    model = _model(tmp_path, "strategy.restore_prob=0", "strategy.ema_momentum=0.5")
    live = [*model.backbone.parameters(), *model.head.parameters()]
    assert all(p.requires_grad for p in live)  # the whole model (collect_params)
    frozen = [*model.teacher.parameters(), *model.anchor.parameters()]
    assert not any(p.requires_grad for p in frozen)
    assert all(bn.training and not bn.track_running_stats for bn in model.norms)
    source = _weights([model.backbone, model.head])
    teacher_before = _weights([model.teacher.backbone, model.teacher.head])
    x = torch.randn(16, 1, 28, 28)
    _step(model, x)
    # the student moved; the anchor keeps the source; the teacher is the EMA of the two
    after = _weights([model.backbone, model.head])
    assert any(not torch.equal(a, s) for a, s in zip(after, source, strict=True))
    anchor = _weights([model.anchor.backbone, model.anchor.head])
    assert all(torch.equal(a, s) for a, s in zip(anchor, source, strict=True))
    teacher = _weights([model.teacher.backbone, model.teacher.head])
    for t, t0, s in zip(teacher, teacher_before, after, strict=True):
        assert torch.allclose(t, 0.5 * t0 + 0.5 * s, atol=1e-7)
    # predicting in eval mode still normalises with the batch: a sample depends on the others
    model.train(False)
    assert all(bn.training for bn in model.norms)
    with torch.no_grad():
        other = torch.cat([x[:1], x[1:] * 5])
        assert not torch.allclose(model.teacher(x)[0], model.teacher(other)[0])


@pytest.mark.parametrize("prob", [0.0, 1.0])
def test_restore_edge_cases_on_the_model(tmp_path, prob):
    model = _model(tmp_path, f"strategy.restore_prob={prob}")
    source = _weights([model.anchor.backbone, model.anchor.head])
    _step(model, torch.randn(16, 1, 28, 28))
    after = _weights([model.backbone, model.head])
    same = [torch.equal(a, s) for a, s in zip(after, source, strict=True)]
    assert all(same) if prob == 1.0 else not all(same)


def test_online_prediction_is_the_pseudo_label_class(tmp_path):
    model = _model(tmp_path, "strategy.anchor_threshold=1.0")  # always augment-averaged
    x = torch.randn(16, 1, 28, 28)
    model._remember(x, torch.arange(16))
    state = model.rng("cotta").get_state()
    with torch.no_grad():  # the same draws, by hand: the mean of the teacher over 2 views
        teacher = model.teacher
        g = torch.Generator()
        g.set_state(state)
        views = [teacher(cotta_view(x, g, [0.1307], [0.3081], False)) for _ in range(2)]
        want = torch.stack(views).mean(0).argmax(1)
    _step(model, x)
    assert torch.equal(model.online_predictions(None), want)


def test_cotta_refuses_ddp_and_bad_settings(tmp_path):
    model = _model(tmp_path)
    model._trainer = SimpleNamespace(world_size=2)
    with pytest.raises(ClbenchError, match="not exact under DDP"):
        model.setup("fit")
    for bad, key in [("strategy.restore_prob=2", "restore_prob"), ("strategy.flip=x", "flip")]:
        with pytest.raises(ClbenchError, match=key):
            _model(tmp_path, bad)
