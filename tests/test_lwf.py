"""LwF: the distillation term against hand-computed values, the frozen copy hook, and the
README's "Adding a strategy" listing being the registered file itself."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from conftest import quick_cfg

from strategies.lwf import LwF, distillation

ROOT = Path(__file__).resolve().parents[1]


def test_distillation_hand_value():
    # one sample, two classes, T = 2: q = softmax([0, 2] / 2), p = softmax([2, 0] / 2)
    new, old = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    e = math.e
    q = [1 / (1 + e), e / (1 + e)]
    p = [e / (1 + e), 1 / (1 + e)]
    want = sum(qi * math.log(qi / pi) for qi, pi in zip(q, p, strict=True))
    assert distillation(new, old, 2.0).item() == pytest.approx(want, rel=1e-6)
    assert distillation(old, old, 2.0).item() == pytest.approx(0.0, abs=1e-7)


def _model(tmp_path):
    from clbench.stream import Experience, Scenario

    cfg = quick_cfg("lwf", "split-digits", tmp_path)
    model = LwF(cfg, Scenario("toy", 4, (1, 2, 2), [0, 1, 2, 3], None))
    x = torch.randn(6, 1, 2, 2)
    exps = [Experience(i, [2 * i, 2 * i + 1], None, None) for i in range(2)]
    return model, x, exps


def test_frozen_copy_is_state_eval_and_untrained(tmp_path):
    model, x, exps = _model(tmp_path)
    assert any(k.startswith("old.") for k in model.state_dict())
    assert not any(p.requires_grad for p in model.old.parameters())
    trained = {id(p) for g in model.param_groups() for p in g["params"]}
    assert not trained & {id(p) for p in model.old.parameters()}
    model.train(True)
    assert not model.old.training
    with torch.no_grad():
        model.head.weight.add_(1.0)
    assert not torch.equal(model.old(x), model(x))  # not refreshed yet
    model.after_experience(exps[0])
    assert bool(model.old.ready) and torch.equal(model.old(x), model(x))


def test_loss_adds_distillation_on_old_classes_only_from_the_second_experience(tmp_path):
    model, x, exps = _model(tmp_path)
    model.plan_stream = None  # not needed: set the stream position by hand
    model.stream, y = exps, torch.tensor([2, 3, 2, 3, 2, 3])
    model.start_experience(0)
    ce = torch.nn.functional.cross_entropy(model(x), y)
    assert model.loss(x, y).item() == pytest.approx(ce.item())  # nothing to distil yet
    model.after_experience(exps[0])
    with torch.no_grad():
        model.head.weight.mul_(-1.0)  # the live model drifts from the copy
    model.start_experience(1)
    logits, old = model(x), model.old(x)
    want = torch.nn.functional.cross_entropy(logits, y) + distillation(
        logits[:, [0, 1]], old[:, [0, 1]], 2.0
    )
    assert model.old_classes() == [0, 1]
    assert model.loss(x, y).item() == pytest.approx(want.item(), rel=1e-6)


def test_readme_lists_the_registered_lwf_file_in_under_80_lines():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Adding a strategy", 1)[1]
    (listing,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)[:1]
    source = (ROOT / "strategies" / "lwf.py").read_text()
    assert listing == source and len(source.splitlines()) < 80
    assert "strategies.lwf:LwF" in section


@pytest.mark.heavy
def test_lwf_forgets_less_than_finetune_on_permuted_digits(tmp_path):
    """The paper's claim in small: distillation from the previous model keeps more of the old
    tasks than plain finetuning (domain-incremental permuted MNIST digits, seeds 0-1)."""
    from clbench.runner import run

    def final(strategy, seed):
        cfg = quick_cfg(
            strategy,
            "permuted-mnist-5k",
            tmp_path / f"{strategy}{seed}",
            f"seed={seed}",
            "scenario.n_experiences=3",
            "train.epochs=2",
        )
        return run(cfg).record["metrics"]["final_accuracy"]

    for seed in (0, 1):
        assert final("lwf", seed) > final("finetune", seed) + 0.01
