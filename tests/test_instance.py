"""The continual few-shot instance test (scenarios/instance.py) and replay's FIFO of sets."""

from __future__ import annotations

import json

import pytest
import torch
from fake_data import write_omniglot

from clbench.cli import main
from clbench.compose import compose
from clbench.errors import ClbenchError, DataNotFoundError
from clbench.runner import check_compatible
from scenarios import SCENARIOS
from scenarios.instance import add_noise, occlude
from strategies.replay import FifoSetBuffer


def _build(name, *overrides):
    cfg = compose("finetune", name, None, list(overrides))
    return SCENARIOS.load(name).build(cfg.scenario, cfg.data)


# -- structure ------------------------------------------------------------------------------


def test_episode_is_nss_support_sets_of_k_distinct_images_each_its_own_class():
    from sklearn.datasets import load_digits

    sc = _build("instance-digits", "seed=4", "scenario.n_support_sets=5", "scenario.n_shots=3")
    exps = sc.experiences()
    assert sc.num_classes == 15 and len(exps) == 5
    assert [e.classes for e in exps] == [[3 * i, 3 * i + 1, 3 * i + 2] for i in range(5)]
    # target = the support set itself (no corruption by default)
    for e in exps:
        assert torch.equal(e.train.tensors[0], e.test.tensors[0])
        assert torch.equal(e.train.tensors[1], e.test.tensors[1])
    # 15 distinct images, all of the one drawn class, in presentation order
    d = load_digits()
    idx = sc.info["image_indices"]
    assert len(set(idx)) == 15
    members = (d.target == sc.info["source_class"]).nonzero()[0]
    x = torch.cat([e.train.tensors[0] for e in exps])
    expected = torch.as_tensor(d.images[members[idx]], dtype=torch.float32) / 16.0
    assert torch.allclose(x[:, 0], (expected - 0.5) / 0.5)
    assert len({tuple(v.flatten().tolist()) for v in x}) == 15


def test_episodes_follow_the_seed():
    a = _build("instance-digits", "seed=0").info
    assert _build("instance-digits", "seed=0").info == a
    assert _build("instance-digits", "seed=1").info["image_indices"] != a["image_indices"]
    b = _build("instance-digits", "seed=1", "scenario.episode_seed=0").info
    assert b == a  # scenario.episode_seed overrides the run's seed
    assert _build("instance-digits", "scenario.source_class=7").info["source_class"] == 7


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ClbenchError, match="has only 174"):  # 174 eights in the 1,797 digits
        _build("instance-digits", "scenario.source_class=8", "scenario.n_support_sets=100")
    with pytest.raises(ClbenchError, match="occlusion must be in"):
        _build("instance-digits", "scenario.occlusion=1.5")


# -- occlusion and noise (the CFSL code's tfms.py), hand-counted ----------------------------


def test_occlusion_disk_sizes():
    g = torch.Generator().manual_seed(0)
    # r = int(0.2 * 8) = 1: the centre and its 4 neighbours, never clipped by the border
    # (centres in [r, W - r)), wherever the centre falls
    out = occlude(torch.ones(200, 1, 8, 8), 0.2, 0.0, g)
    assert ((out == 0).flatten(1).sum(1) == 5).all()
    # r = int(0.1 * 28) = 2: 13 lattice points with dx^2 + dy^2 <= 4 (1 + 4 + 4 + 4)
    out = occlude(torch.ones(50, 1, 28, 28), 0.1, -3.0, g)
    assert ((out == -3.0).flatten(1).sum(1) == 13).all()
    # r = int(0.05 * 8) = 0: the code still blanks the one centre pixel
    assert ((occlude(torch.ones(20, 1, 8, 8), 0.05, 0.0, g) == 0).flatten(1).sum(1) == 1).all()
    # r = int(0.6 * 8) = 4 >= W / 2: the centre is (4, 4) (the range [W - r, r) is empty);
    # dx^2 + dy^2 <= 16 within the image, rows 0..7: 1 + 5 + 7 + 7 + 8 + 7 + 7 + 5 = 47
    assert ((occlude(torch.ones(3, 1, 8, 8), 0.6, 0.0, g) == 0).flatten(1).sum(1) == 47).all()


def test_occlusion_hits_every_channel_at_the_same_pixels():
    out = occlude(torch.ones(1, 3, 8, 8), 0.2, 0.0, torch.Generator().manual_seed(1))
    assert torch.equal(out[0, 0], out[0, 1]) and torch.equal(out[0, 0], out[0, 2])


def test_noise_replaces_a_fixed_count_of_pixels_by_uniform_values():
    g = torch.Generator().manual_seed(0)
    x = torch.full((30, 1, 8, 8), -1.0)
    out = add_noise(x, 0.25, g)  # int(0.25 * 64) = 16
    changed = out != -1.0
    assert (changed.flatten(1).sum(1) == 16).all()
    assert ((out[changed] >= 0) & (out[changed] < 1)).all()
    assert (
        (add_noise(torch.full((5, 1, 28, 28), -1.0), 0.1, g) != -1).flatten(1).sum(1).eq(78).all()
    )
    assert torch.equal(x, torch.full((30, 1, 8, 8), -1.0))  # the input is not modified


def test_corruptions_change_only_the_targets():
    sc = _build("instance-mnist-5k", "scenario.occlusion=0.1", "scenario.noise=0.05")
    for e in sc.experiences():
        clean, target = e.train.tensors[0], e.test.tensors[0]
        assert not torch.equal(clean, target)
        # at most 13 occluded + int(0.05 * 784) = 39 noisy pixels per image
        assert ((clean != target).flatten(1).sum(1) <= 13 + 39).all()
    occ = _build("instance-digits", "scenario.occlusion=0.25").experiences()  # r = 2
    for e in occ:
        diff = e.train.tensors[0] != e.test.tensors[0]
        assert (diff.flatten(1).sum(1) <= 13).all()
        assert (e.test.tensors[0][diff] == -1.0).all()  # 0 on the [0, 1] scale, normalised


# -- Omniglot on disk -------------------------------------------------------------------------


def test_omniglot_reads_torchvision_layout(tmp_path):
    write_omniglot(tmp_path, alphabets=2, characters=3)
    sc = _build("instance-omniglot", f"data.root={tmp_path}", "seed=2")
    exps = sc.experiences()
    assert len(exps) == 10 and sc.num_classes == 20 and 0 <= sc.info["source_class"] < 6
    x = torch.cat([e.train.tensors[0] for e in exps])
    assert x.shape == (20, 1, 28, 28) and x.min() >= 0 and x.max() <= 1
    # drawing n has an n x n black corner: the 20 drawings read are the 20 distinct files
    darkness = (1 - x).sum((1, 2, 3))
    order = torch.tensor(sc.info["image_indices"])
    assert torch.equal(darkness.argsort(), order.argsort())
    with pytest.raises(ClbenchError, match="has only 20"):
        _build("instance-omniglot", f"data.root={tmp_path}", "scenario.n_support_sets=11")


def test_omniglot_missing_is_one_line(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        _build("instance-omniglot", f"data.root={tmp_path}")
    msg = str(info.value)
    assert "\n" not in msg
    assert str(tmp_path / "omniglot-py" / "images_background") in msg
    assert "torchvision.datasets.Omniglot" in msg


# -- the FIFO of support sets (replay's buffer_policy=fifo-sets) ------------------------------


def _ids(buf):
    return sorted(buf._flat()[1].tolist())


def test_fifo_keeps_the_last_b_sets_whole():
    g = torch.Generator()
    buf = FifoSetBuffer(2)
    for i in range(3):  # sets {0, 1}, {2, 3}, {4, 5}
        y = torch.tensor([2 * i, 2 * i + 1])
        buf.add(y.float().view(-1, 1), y, g)
    assert len(buf) == 4 and _ids(buf) == [2, 3, 4, 5]  # {0, 1} left first
    x, y = buf.sample(8, g)  # k capped at the 4 held: each exactly once
    assert sorted(y.tolist()) == [2, 3, 4, 5] and torch.equal(x[:, 0].long(), y)
    _, y = buf.sample(3, g)
    assert len(set(y.tolist())) == 3 and set(y.tolist()) <= {2, 3, 4, 5}
    copy = FifoSetBuffer(2)
    copy.load(buf.state())
    copy.add(torch.zeros(1, 1), torch.tensor([6]), g)
    assert _ids(copy) == [4, 5, 6]  # the loaded sets keep their order: {2, 3} leaves next
    empty = FifoSetBuffer(0)
    empty.add(torch.zeros(2, 1), torch.tensor([0, 1]), g)
    assert len(empty) == 0 and len(FifoSetBuffer(2).state()["sizes"]) == 0


def test_replay_fifo_option_through_the_strategy():
    from strategies.replay import Replay

    cfg = compose(
        "replay",
        "instance-digits",
        None,
        ["strategy.buffer_policy=fifo-sets", "strategy.fifo_sets=3"],
    )
    sc = _build("instance-digits")
    model = Replay(cfg, sc)
    for e in sc.experiences()[:5]:
        model.start_experience(e.index)
        model.after_experience(e)
    assert _ids(model.buffer) == list(range(4, 10))  # sets 2, 3, 4
    bad = compose("replay", "instance-digits", None, ["strategy.buffer_policy=lifo"])
    with pytest.raises(ClbenchError, match="buffer_policy"):
        Replay(bad, sc)


# -- registry ---------------------------------------------------------------------------------


def test_list_and_compatibility(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, shape in (("instance-digits", "1x8x8"), ("instance-omniglot", "1x28x28")):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(name + " "))
        assert f"[instance, input {shape}]" in line
    for s in ("nmc", "finetune", "replay"):
        assert check_compatible(s, "instance-mnist-5k") == "instance"
    with pytest.raises(ClbenchError, match="does not support instance"):
        check_compatible("lwf", "instance-digits")


# -- behaviour (slow): the paper's finding in small -------------------------------------------


def _final(run_cli, tmp_path, strategy, seed, *extra):
    out = tmp_path / f"{strategy}-{seed}"
    proc = run_cli(
        "run",
        "--strategy",
        strategy,
        "--scenario",
        "instance-digits",
        f"seed={seed}",
        f"results.dir={out}",
        "trainer.accelerator=cpu",
        "trainer.progress_bar=false",
        *extra,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = (out / "runs").rglob("*.json")
    return json.loads(path.read_text())["metrics"]["final_accuracy"]


@pytest.mark.heavy  # 6 short runs (about 15 s each on an idle CPU)
def test_replay_helps_on_the_instance_test(run_cli, tmp_path):
    fifo = ["strategy.buffer_policy=fifo-sets", "strategy.fifo_sets=5"]
    fifo.append("strategy.replay_batch_size=8")
    fine = [_final(run_cli, tmp_path, "finetune", s) for s in range(3)]
    replay = [_final(run_cli, tmp_path, "replay", s, *fifo) for s in range(3)]
    # finetune keeps at most the last set (2 of 20 exemplars); replay keeps the last B + 1 = 6
    assert max(fine) <= 0.1
    assert min(replay) >= 0.4
    assert sum(replay) / 3 - sum(fine) / 3 >= 0.3


@pytest.mark.heavy  # DDP: 2 gloo processes, then one process
def test_fifo_replay_two_processes_match_one(run_cli, tmp_path):
    args = ["strategy.buffer_policy=fifo-sets", "strategy.fifo_sets=2", "train.epochs=5"]
    args += ["strategy.replay_batch_size=4", "scenario.n_support_sets=4"]
    ddp = _record(run_cli, tmp_path / "ddp", *args, "trainer.devices=2", "trainer.strategy=ddp")
    one = _record(run_cli, tmp_path / "one", *args)
    assert ddp["world_size"] == 2 and ddp["ddp_state_checked"] is True
    assert sum(ddp["test_sizes"]) == 8  # every exemplar scored once
    for a, b in zip(ddp["accuracy_matrix"], one["accuracy_matrix"], strict=True):
        assert a == pytest.approx(b, abs=1e-6)


def _record(run_cli, out, *extra):
    proc = run_cli(
        "run",
        "--strategy",
        "replay",
        "--scenario",
        "instance-digits",
        "seed=1",
        f"results.dir={out}",
        "trainer.accelerator=cpu",
        "trainer.progress_bar=false",
        *extra,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = (out / "runs").rglob("*.json")
    return json.loads(path.read_text())
