"""The strategy base class: the augmented view, the owned optimizer and step; divergence stops a run."""

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


def test_augment_gives_the_training_view_and_loss_sees_the_raw_batch(tmp_path):
    model = _model(tmp_path, "flip")
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    torch.manual_seed(0)
    out = model.augment(x)
    flipped = (out == x.flip(3)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert (flipped | kept).all() and 10 < int(flipped.sum()) < 54  # about half flipped
    # the default loss augments the raw batch it is given (evaluation never calls loss)
    seen = []
    model.forward = lambda v: seen.append(v) or torch.zeros(len(v), 2, requires_grad=True)
    model.loss(x, torch.zeros(64, dtype=torch.long))
    assert not torch.equal(seen[0], x) and ((seen[0] == x) | (seen[0] == x.flip(3))).all()


def test_no_transform_named_means_none(tmp_path):
    model = _model(tmp_path, "none")
    x = torch.randn(3, 1, 4, 4)
    assert torch.equal(model.augment(x), x)


def test_strategies_cannot_override_the_optimizer_or_the_step():
    from strategies.base import Strategy

    for hook in ("configure_optimizers", "training_step"):
        with pytest.raises(TypeError, match=hook):
            type("Bad", (Strategy,), {hook: lambda self: None})


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
    seen = []
    model.step_loss = lambda batch, i: seen.append(batch[0]) or torch.zeros((), requires_grad=True)
    model.optimizers = lambda: SimpleNamespace(
        param_groups=[], zero_grad=lambda: None, step=lambda: None
    )
    model.manual_backward = lambda loss: None
    x = torch.randn(3, 8, 8, 8)
    model.training_step([x, torch.zeros(3)], 0)
    assert seen[0].is_contiguous(memory_format=torch.channels_last) and torch.equal(seen[0], x)


def test_augment_under_ddp_draws_what_one_process_draws(tmp_path, monkeypatch):
    """Each of W processes augments the gathered global batch with the shared stream and keeps
    its rows r, r+W, ...: together exactly the single-process views (simulated, W = 2)."""
    import strategies.base as base

    model = _model(tmp_path, "flip")
    x = torch.randn(8, 1, 4, 4)
    model.start_experience(0)
    single = model.augment(x)
    monkeypatch.setattr(base, "gather_interleaved", lambda t: x)  # what all_gather would give
    for rank in (0, 1):
        monkeypatch.setattr(base, "world_rank", lambda r=rank: (2, r))
        model.start_experience(0)  # the stream restarts, as it does on every process
        assert torch.equal(model.augment(x[rank::2]), single[rank::2])
