"""OCM's math against hand-computed values, its settings, and its strategy state."""

import math

import pytest
import torch

from clbench.errors import ClbenchError
from clbench.stream import Experience
from strategies.ocm import SCRIPTS, previous_model_contrast


def test_previous_model_contrast_hand_computed():
    e = torch.eye(2)  # current = previous = two orthogonal unit vectors, T = 1
    # own label only: S_ii = -log(e / (e + 1)) = log(1 + e^-1) per row
    one = previous_model_contrast(e, e, torch.tensor([0, 1]), 1.0)
    assert one.item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-6)
    # one label: each row averages S_ii and S_ij = -log(1 / (e + 1)) = log(1 + e)
    both = previous_model_contrast(e, e, torch.tensor([3, 3]), 1.0)
    expected = (math.log(1 + math.exp(-1)) + math.log(1 + math.e)) / 2
    assert both.item() == pytest.approx(expected, abs=1e-6)
    # T = 0.5 doubles the logits: log(1 + e^-2)
    half = previous_model_contrast(e, e, torch.tensor([0, 1]), 0.5)
    assert half.item() == pytest.approx(math.log(1 + math.exp(-2)), abs=1e-6)


def test_previous_model_contrast_is_asymmetric_in_its_rows():
    # rows are the current model's: swapping the models changes the loss when the
    # previous model's projections are not the current's
    a = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), dim=1)
    b = torch.nn.functional.normalize(torch.tensor([[1.0, 0.2], [0.0, 1.0], [1.0, 1.0]]), dim=1)
    labels = torch.tensor([0, 1, 1])
    assert not math.isclose(
        previous_model_contrast(a, b, labels, 0.5).item(),
        previous_model_contrast(b, a, labels, 0.5).item(),
    )


def _strategy(*overrides, shape=(1, 8, 8)):
    from conftest import quick_cfg

    from strategies.ocm import OCM

    cfg = quick_cfg("ocm", "split-digits", "/tmp/unused", *overrides)
    scenario = type("S", (), {"input_shape": shape, "num_classes": 10, "info": {}})()
    torch.manual_seed(0)
    return OCM(cfg, scenario)


def test_scripts_are_the_codes_settings_and_can_be_overridden():
    # test_mnist.py: 0.5 on both similarity terms always, no logit MSE, crop 0.3-1 only;
    # test_cifar10.py: 1.0 on experience 1, 0.5 after, logit MSE on, flip + grayscale + crop
    assert SCRIPTS["mnist"] == dict(
        ins_lambda_first=0.5, ins_lambda=0.5, logit_distill=0.0, augment="mnist"
    )
    assert SCRIPTS["cifar10"]["ins_lambda_first"] == 1.0 and SCRIPTS["cifar10"]["ins_lambda"] == 0.5
    digits = _strategy()
    assert digits.script["name"] == "mnist" and digits._aug["scale"] == (0.3, 1.0)
    colour = _strategy(shape=(3, 8, 8))
    assert colour.script["name"] == "cifar10" and colour._aug["hflip"]
    mixed = _strategy("strategy.script=cifar10", "strategy.ins_lambda=0.7")
    assert mixed.script["ins_lambda"] == 0.7 and mixed.script["ins_lambda_first"] == 1.0


@pytest.mark.parametrize(
    "override, message",
    [
        ("strategy.script=svhn", "script"),
        ("strategy.buffer_size=0", "buffer_size"),
        ("strategy.ins_lambda=0", "ins_lambda"),
        ("strategy.logit_distill=-1", "logit_distill"),
        ("strategy.ins_views=3", "ins_views"),
    ],
)
def test_bad_settings_are_one_line_errors(override, message):
    with pytest.raises(ClbenchError, match=message):
        _strategy(override)


def _stream(m, experiences=2, steps=3):
    g = torch.Generator().manual_seed(0)
    losses = []
    for index in range(experiences):
        exp = Experience(index, [2 * index, 2 * index + 1], None, None)
        m.start_experience(index)
        m.before_experience(exp)
        for _ in range(steps):
            x = torch.rand(10, 1, 8, 8, generator=g)
            y = torch.randint(2 * index, 2 * index + 2, (10,), generator=g)
            loss = m.loss(x, y)
            loss.backward()
            losses.append(loss.item())
            with torch.no_grad():  # a plain SGD step, so the weights move
                for p in m.parameters():
                    if p.grad is not None:
                        p -= 0.01 * p.grad
                        p.grad = None
        m.after_experience(exp)
    return losses


def test_previous_model_is_the_last_experience_end_and_old_classes_by_experience():
    m = _strategy("strategy.buffer_size=30", "strategy.ins_views=4", "strategy.script=cifar10")
    assert not bool(m.previous.ready)
    start = m.head.weight.detach().clone()
    losses = _stream(m)
    assert all(math.isfinite(v) for v in losses)
    assert bool(m.previous.ready)
    assert torch.equal(m.previous.head.weight, m.head.weight)  # refreshed at the end
    assert not torch.equal(m.previous.head.weight, start)
    assert torch.equal(m.previous_projector.backbone.weight, m.projector.weight)
    assert m.seen_before.nonzero().flatten().tolist() == [0, 1]  # old during experience 2
    assert m.seen.nonzero().flatten().tolist() == [0, 1, 2, 3]
    assert len(m.buffer) == 30 and m.buffer.n_seen == 60


def test_previous_model_gets_no_gradient_and_state_round_trips():
    m = _strategy("strategy.buffer_size=30", "strategy.ins_views=1", "strategy.script=cifar10")
    _stream(m)
    m.start_experience(2)
    m.before_experience(Experience(2, [4, 5], None, None))
    m.loss(torch.rand(10, 1, 8, 8), torch.tensor([4, 5] * 5)).backward()
    frozen = [*m.previous.parameters(), *m.previous_projector.parameters()]
    assert frozen and all(p.grad is None and not p.requires_grad for p in frozen)
    assert all(p.grad is not None for p in m.projector.parameters())
    other = _strategy("strategy.buffer_size=30", "strategy.ins_views=1")
    other.load_state_dict(m.state_dict())
    assert torch.equal(other.previous.head.weight, m.previous.head.weight)
    assert torch.equal(other.buffer.x, m.buffer.x) and torch.equal(other.seen, m.seen)


def test_same_seed_same_losses():
    a = _stream(_strategy("strategy.buffer_size=30", "strategy.ins_views=4"))
    b = _stream(_strategy("strategy.buffer_size=30", "strategy.ins_views=4"))
    assert a == b
