"""Images stay uint8 until the device (clbench/inputs.py, `Strategy.inputs`): the pipeline's
arithmetic against hand-computed values, float streams untouched, the backbone built for the
post-resize shape, zero-copy readback equal to the DataLoader's, and every class-incremental
strategy giving bit for bit the numbers of host-normalised float images on uint8 images."""

from __future__ import annotations

import pytest
import torch
from fake_data import write_cifar10
from torch.utils.data import DataLoader

from clbench.backbones import InputContract
from clbench.inputs import InputPipeline

NORM = {"normalization": {"mean": [0.5, 0.25], "std": [0.25, 0.5]}}


def test_uint8_is_scaled_then_normalised_per_channel():
    x = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3).expand(1, 2, 1, 3)
    out = InputPipeline.of(NORM)(x)
    # channel 0: (p/255 - 0.5) / 0.25; channel 1: (p/255 - 0.25) / 0.5
    want = torch.tensor([[[[-2.0, -1.2, 2.0]], [[-0.5, -0.1, 1.5]]]])
    assert out.dtype == torch.float32 and torch.allclose(out, want, atol=1e-6)
    # the very ops of the former host-side normalisation: bit for bit
    m, s = torch.tensor([0.5, 0.25]).view(1, -1, 1, 1), torch.tensor([0.25, 0.5]).view(1, -1, 1, 1)
    assert torch.equal(out, (x.float() / 255.0 - m) / s)


def test_float_batches_pass_through_as_the_same_tensor():
    x = torch.randn(2, 1, 4, 4)
    assert InputPipeline.of(NORM)(x) is x
    assert InputPipeline.of({})(x) is x  # digit streams: no normalisation info


def test_dtype_follows_the_backbone():
    x = torch.full((1, 1, 2, 2), 255, dtype=torch.uint8)
    out = InputPipeline.of({})(x, torch.float64)
    assert out.dtype == torch.float64 and torch.equal(
        out, torch.ones(1, 1, 2, 2, dtype=torch.float64)
    )


def test_contract_resizes_and_uses_its_own_statistics():
    contract = InputContract((4, 4), "nearest", (0.5,), (0.5,))
    pipe = InputPipeline.of(NORM, contract)
    assert pipe.shape((1, 2, 2)) == (1, 4, 4)
    assert InputPipeline.of(NORM).shape((1, 2, 2)) == (1, 2, 2)  # no contract: as stored
    x = torch.tensor([[0, 255], [255, 0]], dtype=torch.uint8).view(1, 1, 2, 2)
    out = pipe(x)
    # nearest 2x2 -> 4x4: each pixel a 2x2 block; 0 -> -1, 255 -> 1
    want = torch.tensor([[-1.0, -1, 1, 1], [-1, -1, 1, 1], [1, 1, -1, -1], [1, 1, -1, -1]])
    assert torch.equal(out[0, 0], want)


def test_bicubic_upscale_stays_within_pixel_range():
    x = torch.tensor([[0, 255], [255, 0]], dtype=torch.uint8).view(1, 1, 2, 2)
    out = InputPipeline((8, 8), "bicubic", None, None)(x)
    assert out.shape == (1, 1, 8, 8) and out.min() >= 0 and out.max() <= 1


def test_the_backbone_is_built_for_the_contract_size(tmp_path, monkeypatch, results_dir):
    from conftest import quick_cfg

    from scenarios import SCENARIOS
    from strategies import STRATEGIES

    write_cifar10(tmp_path)
    monkeypatch.setattr(
        "strategies.base.input_contract",
        lambda cfg: InputContract((8, 8), "bilinear", (0.5,) * 3, (0.5,) * 3),
    )
    cfg = quick_cfg(
        "finetune", "split-cifar10", results_dir, f"data.root={tmp_path}", "backbone.name=mlp"
    )
    sc = SCENARIOS.load("split-cifar10").build(cfg.scenario, cfg.data)
    model = STRATEGIES.load("finetune")(cfg, sc)
    assert model.input_shape == (3, 8, 8)
    x = sc.experiences()[0].test.tensors[0]
    assert x.dtype == torch.uint8 and x.shape[1:] == (3, 32, 32)
    assert model(model.inputs(x)).shape == (len(x), 10)


@pytest.mark.parametrize("name", ["split-mnist-5k", "split-cifar10"])
def test_readback_equals_the_dataloader_and_draws_alike(tmp_path, name):
    from clbench.compose import compose
    from clbench.stream import _to_tensors
    from scenarios import SCENARIOS

    write_cifar10(tmp_path)
    cfg = compose("finetune", name, None, [f"data.root={tmp_path}"])
    sc = SCENARIOS.load(name).build(cfg.scenario, cfg.data)
    for stream in (sc.benchmark.train_stream, sc.benchmark.test_stream):
        for e in list(stream)[:2]:
            torch.manual_seed(0)
            batches = list(DataLoader(e.dataset, batch_size=4096))
            xs, ys = [b[0] for b in batches], [b[1] for b in batches]
            after_loader = torch.rand(1)
            torch.manual_seed(0)
            got = _to_tensors(e.dataset)
            assert torch.equal(torch.rand(1), after_loader)  # the same global draws
            assert torch.equal(got.tensors[0], torch.cat(xs))
            assert torch.equal(got.tensors[1], torch.cat(ys).long())
