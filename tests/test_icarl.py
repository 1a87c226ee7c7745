"""iCaRL: herding's selection order, the loss targets and the nearest-mean-of-exemplars
prediction against hand-computed values; the memory's budget, the planned training data, the
resume state; and, slow, the paper's claim in small on real digits."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import quick_cfg
from torch import nn
from torch.utils.data import ConcatDataset, TensorDataset

from strategies.icarl import ExemplarMemory, ICaRL, herding_order, icarl_loss, icarl_targets

# Four unit vectors; mean mu = (0.25, 0.65).
F4 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-0.6, 0.8]])


def test_herding_order_hand_worked():
    # k=1: ||mu - f||^2 = 0.985, 0.185, 0.145, 0.745             -> row 2
    # k=2: ||mu - (f2 + f)/2||^2 = 0.365 (f0), 0.065 (f1), 0.085 (f3) -> row 1
    # k=3: ||mu - (f2 + f1 + f)/3||^2 = 0.0828 (f0), 0.1094 (f3)  -> row 0, then row 3.
    # (Ranking by distance to the mean alone would put row 3 before row 0.)
    assert herding_order(F4, 4).tolist() == [2, 1, 0, 3]
    assert herding_order(F4, 2).tolist() == [2, 1]
    assert herding_order(F4, 10).tolist() == [2, 1, 0, 3]  # no sample picked twice
    assert herding_order(F4, 0).tolist() == []


def test_memory_reduction_keeps_the_first_m_of_each_class():
    mem = ExemplarMemory()
    mem.add(torch.arange(3.0).view(3, 1), torch.tensor([5, 5, 5]))
    mem.add(torch.arange(10.0, 13.0).view(3, 1), torch.tensor([2, 2, 2]))
    mem.reduce(2)
    assert mem.x is not None
    assert mem.x.squeeze(1).tolist() == [0.0, 1.0, 10.0, 11.0]
    assert mem.y.tolist() == [5, 5, 2, 2]


def test_targets_distil_old_classes_and_are_one_hot_on_new_ones():
    # 4 classes; 0 and 1 are old. Old network's sigmoid outputs q:
    q = torch.tensor([[0.5, 0.75, 0.9, 0.1], [0.75, 0.5, 0.2, 0.3]])
    y = torch.tensor([2, 0])  # a new-class sample and an exemplar of old class 0
    t = icarl_targets(y, 4, q, [0, 1])
    # the exemplar's own old class gets the old output (0.75), not 1
    assert t.tolist() == [[0.5, 0.75, 1.0, 0.0], [0.75, 0.5, 0.0, 0.0]]
    assert icarl_targets(y, 4, None, []).tolist() == [[0, 0, 1, 0], [1, 0, 0, 0]]
    # sigmoid(0) = 0.5: -log 0.5 = log 2 whatever the target; sigmoid(log 3) = 0.75, target 1
    logits = torch.zeros(2, 4)
    logits[0, 2] = math.log(3.0)
    want = (7 * math.log(2.0) - math.log(0.75)) / 2  # summed over outputs, mean over 2 rows
    assert icarl_loss(logits, t).item() == pytest.approx(want, rel=1e-6)


def _model(tmp_path, buffer_size=6):
    from clbench.stream import Experience, Scenario

    torch.manual_seed(0)
    cfg = quick_cfg(
        "icarl",
        "split-digits",
        tmp_path,
        f"strategy.buffer_size={buffer_size}",
        "backbone.hidden_dim=8",
    )
    model = ICaRL(cfg, Scenario("toy", 4, (1, 2, 2), [0, 1, 2, 3], None))

    def exp(i: int, n: int) -> Experience:
        y = torch.tensor([2 * i, 2 * i + 1]).repeat_interleave(n)
        x = torch.randn(len(y), 1, 2, 2) + y.view(-1, 1, 1, 1)
        return Experience(i, [2 * i, 2 * i + 1], TensorDataset(x, y), TensorDataset(x, y))

    return model, [exp(0, 5), exp(1, 4)]


def test_nearest_mean_of_exemplars_by_hand(tmp_path):
    model, _ = _model(tmp_path)
    model.backbone = nn.Flatten()  # features = the inputs themselves, 2-D
    model.class_means = torch.zeros(4, 2)
    x = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]]).view(3, 1, 1, 2)
    model.memory.add(x, torch.tensor([0, 0, 1]))
    model.update_means()
    # class 0: mean of (0.6, 0.8) and (1, 0) = (0.8, 0.4), re-normalised; class 1: (0, 1)
    c0 = [0.8 / math.sqrt(0.8), 0.4 / math.sqrt(0.8)]
    assert model.class_means[0].tolist() == pytest.approx(c0, rel=1e-6)
    assert model.class_means[1].tolist() == pytest.approx([0.0, 1.0])
    assert model.seen.tolist() == [True, True, False, False]
    # (1, 0.1) and (10, 10) are nearer class 0's mean, (0.3, 1) class 1's; (1, -1) is nearer
    # the zero row of the unseen class 2 (distance 1) than any mean, but unseen rows never win
    test = torch.tensor([[1.0, 0.1], [10.0, 10.0], [0.3, 1.0], [1.0, -1.0]]).view(4, 1, 1, 2)
    assert model.predict(test).tolist() == [0, 0, 1, 0]


def test_memory_budget_planned_data_loss_and_resume_state(tmp_path):
    from clbench.protocol import Protocol

    model, exps = _model(tmp_path, buffer_size=6)
    model.plan_stream(exps, Protocol.of(model.cfg, {}))
    assert model.planned_memory(1) == 6  # m = 6 // 2 = 3 for classes 0 and 1
    assert len(model.train_dataset(exps[1])) == 8 + 6  # asked ahead: the length only
    model.start_experience(0)
    x, y = exps[0].train.tensors
    assert model.loss(x, y).item() == pytest.approx(
        icarl_loss(model(x), icarl_targets(y, 4, None, [])).item()
    )
    model.after_experience(exps[0])
    assert model.memory.y.tolist() == [0, 0, 0, 1, 1, 1] and bool(model.old.ready)
    data = model.train_dataset(exps[1])
    assert isinstance(data, ConcatDataset) and len(data) == 14
    with torch.no_grad():
        model.head.weight.mul_(-1.0)  # the live model drifts from the copy
    model.start_experience(1)
    x, y = exps[1].train.tensors
    q = torch.sigmoid(model.old(x))
    want = icarl_loss(model(x), icarl_targets(y, 4, q, [0, 1]))
    assert model.loss(x, y).item() == pytest.approx(want.item(), rel=1e-6)
    first_of_class0 = model.memory.x[0].clone()
    model.after_experience(exps[1])  # m = 6 // 4 = 1: the first exemplar of each old class
    assert model.memory.y.tolist() == [0, 1, 2, 3]
    assert torch.equal(model.memory.x[0], first_of_class0)
    other, _ = _model(tmp_path / "b")
    other.load_state_dict(model.state_dict())
    assert other.memory_experiences == 2 and torch.equal(other.memory.x, model.memory.x)
    assert torch.equal(other.predict(x), model.predict(x))


@pytest.mark.heavy
def test_icarl_forgets_far_less_than_finetune_on_split_mnist_5k(tmp_path):
    """The paper's claim in small (its Fig. 2 against finetuning): with 200 exemplars, the
    nearest mean of exemplars keeps the old classes that finetuning forgets (class-incremental
    split-mnist-5k, 2 epochs, seeds 0-1; finetune ends near 0.2, the last experience only)."""
    from clbench.runner import run

    def final(strategy, seed):
        cfg = quick_cfg(
            strategy,
            "split-mnist-5k",
            tmp_path / f"{strategy}{seed}",
            f"seed={seed}",
            "train.epochs=2",
        )
        return run(cfg).record["metrics"]["final_accuracy"]

    for seed in (0, 1):
        assert final("icarl", seed) > final("finetune", seed) + 0.3


@pytest.mark.heavy  # clbench subprocesses
def test_killed_run_resumes_to_the_uninterrupted_record(tmp_path, run_cli):
    """The memory (extra state), the means (buffers) and the previous network (frozen copy)
    come back from the checkpoint: a run killed after experience 2 resumes to the same record."""
    import json
    import signal
    import subprocess

    from test_resume import _records, _stop_in_experience_3

    from clbench.cli import main

    args = ["--strategy", "icarl", "--scenario", "split-digits", "seed=4", "train.epochs=2"]
    args += ["trainer.accelerator=cpu", "trainer.progress_bar=false", "strategy.buffer_size=60"]
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    proc = run_cli.popen(
        "run", *args, f"results.dir={killed}", env={"PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert _stop_in_experience_3(proc, signal.SIGKILL)[0] == -signal.SIGKILL
    (run_dir,) = (killed / "work" / "split-digits" / "icarl").iterdir()
    assert main(["run", "--resume", str(run_dir)]) == 0
    assert run_cli("run", *args, f"results.dir={whole}", timeout=300).returncode == 0
    resumed, ref = (json.loads(_records(d)[0].read_text()) for d in (killed, whole))
    assert resumed["resumes"] == 1
    assert resumed["accuracy_matrix"] == ref["accuracy_matrix"]  # exactly, on CPU
