"""GDumb: the greedy sampler's evictions on a hand-worked stream, the class balance of the
memory as a function of the stream, the reset to the initial weights and the inference mask;
slow: DDP exactness and the paper's claim in small on real digits."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import quick_cfg
from torch.utils.data import TensorDataset

from strategies.gdumb import GDumb, greedy_add


def test_greedy_sampler_hand_worked_evictions(monkeypatch):
    # capacity 4. a0 a1 a2 b0 fill it. b1: class 1 holds 1 < 4/2 -> evict from class 0 (the
    # only largest: tie draw 0 of 1), item draw 1 of 3 -> a1 out. c0: 0 < 4/3 -> largest are
    # classes 0 and 1 (2 each): tie draw 1 of 2 -> class 1, item draw 0 of 2 -> b0 out.
    # a3: class 0 holds 2 >= 4/3 -> dropped. b2: 1 < 4/3 -> largest is class 0 alone (tie draw
    # 0 of 1), item draw 1 of 2 -> a2 out.
    draws = iter([(0, 1), (1, 3), (1, 2), (0, 2), (0, 1), (1, 2)])  # (value, expected high)

    def fake_randint(high, size, generator=None):
        value, want_high = next(draws)
        assert high == want_high
        return torch.tensor([value])

    monkeypatch.setattr(torch, "randint", fake_randint)
    memory: dict[int, list[str]] = {}
    seen: set[int] = set()
    for item in ["a0", "a1", "a2", "b0", "b1", "c0", "a3", "b2"]:
        greedy_add(memory, seen, item, "abc".index(item[0]), 4, torch.Generator())
    assert memory == {0: ["a0"], 1: ["b1", "b2"], 2: ["c0"]}
    assert seen == {0, 1, 2}
    assert next(draws, None) is None  # every draw was used: no eviction more or less


def _model(tmp_path, *overrides: str) -> GDumb:
    from clbench.stream import Experience, Scenario

    cfg = quick_cfg("gdumb", "split-digits", tmp_path, "strategy.buffer_size=20", *overrides)
    model = GDumb(cfg, Scenario("toy", 6, (1, 2, 2), list(range(6)), None))
    g = torch.Generator().manual_seed(0)

    def exp(i: int, sizes: dict[int, int]) -> Experience:
        y = torch.cat([torch.full((n,), c) for c, n in sizes.items()])
        x = torch.randn(len(y), 1, 2, 2, generator=g)
        return Experience(i, sorted(sizes), TensorDataset(x, y), TensorDataset(x, y))

    # unequal class sizes
    model.stream = [exp(0, {0: 30, 1: 12}), exp(1, {2: 25, 3: 40}), exp(2, {4: 8, 5: 50})]
    return model


def test_memory_is_class_balanced_and_a_function_of_the_stream(tmp_path):
    model = _model(tmp_path)
    counts = [torch.bincount(model.train_dataset(e).tensors[1], minlength=6) for e in model.stream]
    assert counts[0].tolist() == [10, 10, 0, 0, 0, 0]
    assert counts[1].tolist() == [5, 5, 5, 5, 0, 0]
    # 20 / 6 = 3.33: a new class grows while it holds 3 or fewer, so to 4 (class 4 has 8);
    # each addition evicts from a largest class, leaving the 12 other slots 3 per class
    assert counts[2].tolist() == [3, 3, 3, 3, 4, 4]
    # stored samples are real rows of their experience, with their labels
    x, y = model.train_dataset(model.stream[1]).tensors
    pool = torch.cat([e.train.tensors[0] for e in model.stream[:2]]).flatten(1)
    assert all(((pool - row.flatten()).abs().sum(1) == 0).any() for row in x)
    # the same stream and seed give the same memory, whatever the model has trained
    other = _model(tmp_path)
    with torch.no_grad():
        other.head.weight.add_(1.0)
    for e in model.stream:
        a, b = model.train_dataset(e).tensors, other.train_dataset(e).tensors
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    seeded = _model(tmp_path, "seed=5")
    assert not torch.equal(seeded.train_dataset(model.stream[2]).tensors[0], x)


def test_retraining_starts_from_the_initial_weights(tmp_path):
    model = _model(tmp_path)
    start = {k: v.clone() for k, v in model.state_dict().items() if torch.is_tensor(v)}
    assert any(k.startswith("init.") for k in start)
    with torch.no_grad():
        for p in [*model.backbone.parameters(), *model.head.parameters()]:
            p.add_(1.0)  # as training would (the frozen init copy is not trained)
    model.before_experience(model.stream[1])
    for k, v in start.items():
        assert torch.equal(model.state_dict()[k], v), k


def test_inference_is_masked_to_the_classes_seen(tmp_path):
    model = _model(tmp_path)
    with torch.no_grad():
        model.head.bias.copy_(torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, 100.0]))  # class 5 wins
    x = torch.zeros(3, 1, 2, 2)
    model.start_experience(0)  # classes 0, 1 seen
    assert model.predict(x).tolist() == [1, 1, 1]
    model.start_experience(2)
    assert model.predict(x).tolist() == [5, 5, 5]
    unmasked = _model(tmp_path, "strategy.mask_unseen=false")
    unmasked.load_state_dict(model.state_dict())
    unmasked.start_experience(0)
    assert unmasked.predict(x).tolist() == [5, 5, 5]


def test_kept_optimizer_state_is_a_config_error(tmp_path):
    from clbench.errors import ClbenchError

    with pytest.raises(ClbenchError, match="optimizer_state must be reset"):
        _model(tmp_path, "train.optimizer_state=keep")


@pytest.mark.heavy  # DDP: 2 gloo processes, then a one-process run
def test_gdumb_two_processes_match_one(tmp_path, monkeypatch, run_cli):
    import test_ddp

    base = ["--strategy", "gdumb", "--scenario", "split-digits", "seed=2", "train.epochs=10"]
    monkeypatch.setattr(test_ddp, "ARGS", [*base, *test_ddp.ARGS[-2:]])
    ddp = test_ddp._run(run_cli, tmp_path / "ddp", "trainer.devices=2", "trainer.strategy=ddp")
    rec = json.loads(ddp[0].read_text())
    assert rec["world_size"] == 2 and rec["ddp_state_checked"] is True
    ref = json.loads(test_ddp._run(run_cli, tmp_path / "one")[0].read_text())
    for a, b in zip(rec["accuracy_matrix"], ref["accuracy_matrix"], strict=True):
        assert a == pytest.approx(b, abs=0.02)


@pytest.mark.heavy
def test_gdumb_beats_finetune_on_split_mnist(tmp_path):
    """The paper's claim in small (Table 3, MNIST class-IL): retraining on a small balanced
    memory beats sequential finetuning by far (buffer 200 and 500, seed 0)."""
    from clbench.runner import run

    def final(strategy: str, *overrides: str) -> float:
        cfg = quick_cfg(strategy, "split-mnist-5k", tmp_path / strategy, *overrides)
        return run(cfg).record["metrics"]["final_accuracy"]

    finetune = final("finetune")
    for k in (200, 500):
        gdumb = final("gdumb", f"strategy.buffer_size={k}", "train.epochs=32")
        assert gdumb > finetune + 0.4, (k, gdumb, finetune)
