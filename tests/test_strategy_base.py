"""The strategy base class: batch augmentation on training batches only; divergence stops a run."""

from types import SimpleNamespace

import pytest
import torch
from conftest import quick_cfg

from strategies.finetune import Finetune


def _model(tmp_path, transform):
    cfg = quick_cfg("finetune", "split-digits", tmp_path)
    scenario = SimpleNamespace(
        input_shape=(1, 4, 4), num_classes=2, info={"train_transform": transform}
    )
    return Finetune(cfg, scenario)


def test_augmentation_on_training_batches_only(tmp_path):
    model = _model(tmp_path, "flip")
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    y = torch.zeros(64, dtype=torch.long)
    model._trainer = SimpleNamespace(training=True)
    torch.manual_seed(0)
    out, _ = model.on_after_batch_transfer([x, y], 0)
    flipped = (out == x.flip(3)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert (flipped | kept).all() and 10 < int(flipped.sum()) < 54  # about half flipped
    model._trainer = SimpleNamespace(training=False)
    out, _ = model.on_after_batch_transfer([x, y], 0)
    assert torch.equal(out, x)


def test_no_transform_named_means_none(tmp_path):
    model = _model(tmp_path, "none")
    model._trainer = SimpleNamespace(training=True)
    x = torch.randn(3, 1, 4, 4)
    assert torch.equal(model.on_after_batch_transfer([x, torch.zeros(3)], 0)[0], x)


def test_a_diverging_run_stops_with_one_line(results_dir):
    from clbench.errors import ClbenchError
    from clbench.runner import run

    cfg = quick_cfg(
        "finetune",
        "split-digits",
        results_dir,
        "train.lr=1e30",
        "train.epochs=1",
        "scenario.n_experiences=2",
    )
    with pytest.raises(ClbenchError, match="NaN or infinite"):
        run(cfg)


def test_gpu_speed_options_channels_last_and_compile(tmp_path):
    cfg = quick_cfg(
        "finetune",
        "split-digits",
        tmp_path,
        "backbone.name=convnet",
        "trainer.channels_last=true",
        "trainer.compile=true",
    )
    scenario = SimpleNamespace(input_shape=(1, 8, 8), num_classes=2, info={})
    model = Finetune(cfg, scenario)
    conv = [m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d)][1]  # C > 1
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()  # really NHWC, not a no-op
    assert model.backbone._compiled_call_impl is not None  # compiled in place
    assert all(not k.startswith("_orig_mod") for k in model.state_dict())  # same keys
    model._trainer = SimpleNamespace(training=True)
    x = torch.randn(3, 8, 8, 8)
    out = model.on_after_batch_transfer([x, torch.zeros(3)], 0)[0]
    assert out.is_contiguous(memory_format=torch.channels_last) and torch.equal(out, x)
