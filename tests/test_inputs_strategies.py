"""Every strategy on uint8 image streams gives bit for bit the record it gave when the stream
was normalised to float32 on the host (the former data path): `Strategy.inputs` is applied on
every path a sample takes to the model (training batches, replay buffers, Fisher, feature
caches, evaluation, online predictions), and nothing does arithmetic on raw uint8 pixels."""

from __future__ import annotations

import pytest
import torch
from conftest import QUIET, quick_cfg
from fake_data import write_cifar10, write_cifar_c
from torch.utils.data import TensorDataset

from strategies import STRATEGIES


def _host_normalised(monkeypatch, cls) -> None:
    """`cls.experiences` as before: uint8 images normalised to float32 on the host."""
    from scenarios.imagedata import normalize

    inner = cls.experiences

    def float_experiences(self):
        norm = self.info["normalization"]
        out = inner(self)
        done: dict[int, torch.Tensor] = {}  # CTTA: train and test share one image tensor
        for e in out:
            for part in ("train", "test"):
                ds = getattr(e, part)
                x, *rest = ds.tensors
                if id(x) not in done:
                    done[id(x)] = normalize(x, norm["mean"], norm["std"])
                setattr(e, part, TensorDataset(done[id(x)], *rest))
        return out

    monkeypatch.setattr(cls, "experiences", float_experiences)


def _records(tmp_path, monkeypatch, cls, strategy, scenario, *overrides):
    from clbench.runner import run

    recs = []
    for host in (False, True):
        with monkeypatch.context() as m:
            if host:
                _host_normalised(m, cls)
            cfg = quick_cfg(
                strategy, scenario, tmp_path / f"res{host}", f"data.root={tmp_path}", *overrides
            )
            recs.append(run(cfg).record)
    return recs


def _same(a: dict, b: dict) -> None:
    assert a["accuracy_matrix"] == b["accuracy_matrix"]
    assert a["online_accuracy"] == b["online_accuracy"]


CLASS_IL = [e.name for e in STRATEGIES if "class-il" in e.meta["kinds"]]
CTTA = [e.name for e in STRATEGIES if "ctta" in e.meta["kinds"]]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", CLASS_IL)
def test_class_il_strategy_on_uint8_equals_host_float(tmp_path, monkeypatch, strategy):
    from scenarios.imagedata import ImageScenario

    write_cifar10(tmp_path, per_class_train=4, per_class_test=2)
    a, b = _records(
        tmp_path,
        monkeypatch,
        ImageScenario,
        strategy,
        "split-cifar10",
        "scenario.n_experiences=2",
        "backbone.name=convnet",
        "train.epochs=1",
        "train.batch_size=8",
    )
    _same(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", CTTA)
def test_ctta_strategy_on_uint8_equals_host_float(tmp_path, monkeypatch, strategy):
    from scenarios.ctta import CttaScenario

    write_cifar_c(tmp_path, per_severity=8)
    write_cifar10(tmp_path)  # the source data
    extra = ["strategy.n_augmentations=2"] if strategy in ("cotta", "vdp") else []
    a, b = _records(
        tmp_path,
        monkeypatch,
        CttaScenario,
        strategy,
        "cifar10c",
        "scenario.corruptions=[fog,snow]",
        "scenario.n_images=8",
        "backbone.name=convnet",
        "train.batch_size=4",
        "train.epochs=1",
        *extra,
    )
    _same(a, b)


@pytest.mark.heavy  # DDP: 2 gloo processes, then one process
def test_uint8_replay_under_ddp_matches_one_process(tmp_path, run_cli):
    import json

    write_cifar10(tmp_path, per_class_train=8, per_class_test=2)
    # mlp: no batch-norm statistics, which are kept per process
    args = "run --strategy replay --scenario split-cifar10 scenario.n_experiences=2".split()
    args += "backbone.name=mlp train.epochs=1 train.batch_size=8 strategy.buffer_size=20".split()
    args += [f"data.root={tmp_path}", *QUIET]
    recs = []
    for name, extra in (("ddp", ["trainer.devices=2", "trainer.strategy=ddp"]), ("one", [])):
        proc = run_cli(*args, f"results.dir={tmp_path / name}", *extra, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        (path,) = (tmp_path / name / "runs").rglob("*.json")
        recs.append(json.loads(path.read_text()))
    ddp, one = recs
    assert ddp["world_size"] == 2 and ddp["ddp_state_checked"] is True  # buffers of uint8 too
    assert sum(ddp["test_sizes"]) == 20  # every test image scored once
    for a, b in zip(ddp["accuracy_matrix"], one["accuracy_matrix"], strict=True):
        assert a == pytest.approx(b, abs=0.1)  # same batches; summation order differs
