"""Backbones by name, and loading one from a local checkpoint."""

import pytest
import torch
from omegaconf import OmegaConf

from clbench.backbones import BACKBONES, build_backbone
from clbench.config import BackboneConfig
from clbench.errors import ClbenchError


def _cfg(**kw):
    return OmegaConf.structured(BackboneConfig(**kw))


@pytest.mark.parametrize(
    ("name", "shape"), [("mlp", (1, 28, 28)), ("convnet", (1, 28, 28)), ("resnet18", (3, 32, 32))]
)
def test_backbones_give_their_feature_dim(name, shape):
    model, dim = build_backbone(_cfg(name=name), shape)
    assert model(torch.zeros(2, *shape)).shape == (2, dim)


def test_mlp_width_and_depth():
    model, dim = build_backbone(_cfg(name="mlp", hidden_dim=7, num_layers=3), (1, 8, 8))
    assert dim == 7
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 3


def test_checkpoint_round_trip(tmp_path):
    model, _ = build_backbone(_cfg(name="mlp", hidden_dim=5), (1, 8, 8))
    torch.save(model.state_dict(), tmp_path / "b.pt")
    loaded, _ = build_backbone(
        _cfg(name="mlp", hidden_dim=5, checkpoint=str(tmp_path / "b.pt")), (1, 8, 8)
    )
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_bad_checkpoint_and_name(tmp_path):
    with pytest.raises(ClbenchError, match="does not exist"):
        build_backbone(_cfg(checkpoint=str(tmp_path / "missing.pt")), (1, 8, 8))
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(ClbenchError, match="is not a state_dict file"):
        build_backbone(_cfg(checkpoint=str(tmp_path / "junk.pt")), (1, 8, 8))
    with pytest.raises(ClbenchError, match="unknown backbone 'resnet1'"):
        build_backbone(_cfg(name="resnet1"), (1, 8, 8))
    assert "mlp" in BACKBONES
