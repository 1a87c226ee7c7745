"""CTTA streams: CIFAR-10-C/100-C from format-exact .npy files; mnist-5k-c corruptions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fake_data import write_cifar10, write_cifar_c

from clbench.compose import compose
from clbench.datasets import CIFAR_C_CORRUPTIONS
from clbench.errors import ClbenchError, DataNotFoundError
from scenarios import SCENARIOS
from scenarios.ctta import brightness, contrast, corrupt, impulse_noise, pixelate


def _build(name, *overrides):
    cfg = compose("finetune", name, None, list(overrides))
    return SCENARIOS.load(name).build(cfg.scenario, cfg.data)


def test_cifar10c_domains_in_standard_order_without_labels(tmp_path):
    write_cifar_c(tmp_path, per_severity=4)
    sc = _build("cifar10c", f"data.root={tmp_path}", "scenario.n_images=3")
    exps = sc.experiences()
    assert sc.info["domains"] == [f"{c}-5" for c in CIFAR_C_CORRUPTIONS]
    assert len(exps) == 15
    for e in exps:
        assert len(e.train.tensors) == 1  # images only: no labels at adaptation time
        assert len(e.test) == 3 and e.test.tensors[1].tolist() == [6, 7, 8]
        assert e.train.tensors[0] is e.test.tensors[0]
        assert tuple(e.test.tensors[0].shape[1:]) == (3, 32, 32)


def test_cifar10c_severity_picks_its_block(tmp_path):
    from scenarios.ctta import load_cifar_c

    folder = write_cifar_c(tmp_path, per_severity=4, corruptions=["fog"])
    for s in (1, 3, 5):
        x, y = load_cifar_c(folder, "fog", s, 4)
        assert (x[:, :, 0, :] == s).all() and y.tolist() == [
            (4 * (s - 1) + k) % 10 for k in range(4)
        ]


def test_cifar100c_and_corruption_subset(tmp_path):
    write_cifar_c(tmp_path, "CIFAR-100-C", per_severity=2, num_classes=100)
    sc = _build(
        "cifar100c",
        f"data.root={tmp_path}",
        "scenario.n_images=2",
        "scenario.severity=2",
        "scenario.corruptions=[fog,snow]",
    )
    assert sc.info["domains"] == ["fog-2", "snow-2"] and sc.num_classes == 100
    assert len(sc.experiences()) == 2


def test_cifar10c_source_train_is_clean_cifar10(tmp_path):
    write_cifar_c(tmp_path, per_severity=2)
    write_cifar10(tmp_path, per_class_train=1)
    sc = _build("cifar10c", f"data.root={tmp_path}", "scenario.n_images=2")
    src = sc.info["source_train"]()
    assert len(src) == 10 and src.tensors[1].tolist() == list(range(10))


def test_cifar_c_errors_are_one_line(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        _build("cifar10c", f"data.root={tmp_path}")
    assert str(tmp_path / "CIFAR-10-C" / "gaussian_noise.npy") in str(info.value)
    folder = write_cifar_c(tmp_path, per_severity=2)
    np.save(folder / "fog.npy", np.zeros((3, 32, 32), dtype=np.uint8))
    with pytest.raises(ClbenchError, match="fog.npy"):
        _build("cifar10c", f"data.root={tmp_path}", "scenario.n_images=2")
    with pytest.raises(ClbenchError, match="did you mean fog"):
        _build("cifar10c", f"data.root={tmp_path}", "scenario.corruptions=[fogg]")
    with pytest.raises(ClbenchError, match="severity"):
        _build("cifar10c", f"data.root={tmp_path}", "scenario.severity=6")


def test_mnist_5k_c():
    sc = _build("mnist-5k-c", "scenario.severity=3")
    exps = sc.experiences()
    assert len(exps) == 7 and sc.info["domains"][0] == "gaussian_noise-3"
    assert all(len(e.test) == 1000 and len(e.train.tensors) == 1 for e in exps)
    assert (
        tuple(exps[0].train.tensors[0].shape[1:]) == SCENARIOS.get("mnist-5k-c").meta["input_shape"]
    )
    assert not torch.equal(exps[0].test.tensors[0], exps[1].test.tensors[0])
    assert len(sc.info["source_train"]()) == 4000
    # the same corruption seed gives the same stream
    again = _build(
        "mnist-5k-c", "scenario.severity=3", "scenario.corruptions=[gaussian_noise]"
    ).experiences()
    assert torch.equal(exps[0].test.tensors[0], again[0].test.tensors[0])


def test_corruptions_by_hand():
    g = torch.Generator().manual_seed(0)
    x = torch.tensor([0.0, 1.0, 0.5, 0.5]).view(1, 1, 2, 2)
    # contrast 0.5 (severity 2) around the mean 0.5
    assert torch.allclose(contrast(x, 2, g), torch.tensor([0.25, 0.75, 0.5, 0.5]).view(1, 1, 2, 2))
    # brightness +0.3 (severity 5), clipped at 1
    assert torch.allclose(brightness(x, 5, g), torch.tensor([0.3, 1.0, 0.8, 0.8]).view(1, 1, 2, 2))
    # pixelate 0.65 of 4x4 -> 2x2 block means -> back to 4x4
    y = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4) / 16
    p = pixelate(y, 5, g)
    assert torch.allclose(p[0, 0, :2, :2], torch.full((2, 2), (0 + 1 + 4 + 5) / 64))
    # impulse noise: about 7% of pixels set to 0 or 1
    z = torch.full((1, 1, 200, 200), 0.5)
    hit = impulse_noise(z, 5, torch.Generator().manual_seed(1)) != 0.5
    assert 0.06 < hit.float().mean() < 0.08
    # seeded
    assert torch.equal(corrupt(z, "gaussian_noise", 1, 0), corrupt(z, "gaussian_noise", 1, 0))


def test_runner_refuses_ctta_for_class_il_strategies():
    from clbench.runner import check_compatible

    with pytest.raises(ClbenchError, match="ctta"):
        check_compatible("finetune", "mnist-5k-c")
