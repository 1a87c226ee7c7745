"""timm models by name: local weights give timm's own features, pretrained weights fail in one
line without network, and a pretrained backbone's input contract is timm's config."""

import pytest
import torch
from omegaconf import OmegaConf

from clbench.backbones import InputContract, build_backbone, input_contract
from clbench.config import BackboneConfig
from clbench.errors import ClbenchError


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No test here may reach the network: weights come from local files, a download fails."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


timm = pytest.importorskip("timm")


def _cfg(**kw):
    return OmegaConf.structured(BackboneConfig(**kw))


def _saved(tmp_path, name, wrap=None, file="w.pth"):
    """A seeded random timm model *with* its classifier (as a pretrained file has one), saved:
    it stands in for pretrained weights."""
    torch.manual_seed(0)
    state = timm.create_model(name).state_dict()
    path = tmp_path / file
    if file.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save({wrap: state} if wrap else state, path)
    return path


def _timm_features(name, path, x):
    """timm itself with those weights: its own loader (`pretrained_cfg_overlay` file)."""
    ref = timm.create_model(
        name,
        pretrained=True,
        num_classes=0,
        pretrained_cfg_overlay={"file": str(path), "custom_load": False},
    )
    with torch.no_grad():
        return ref.eval()(x)


@pytest.mark.parametrize(
    ("name", "wrap", "file", "size"),
    [
        ("test_resnet", None, "w.pth", 32),
        ("test_vit", "model", "w.pt", 160),
        ("test_vit", None, "w.safetensors", 160),
        ("resnet18", "state_dict", "w.bin", 32),
    ],
)
def test_local_weights_give_timms_features(tmp_path, name, wrap, file, size):
    path = _saved(tmp_path, name, wrap, file)
    model, dim = build_backbone(_cfg(name=name, checkpoint=str(path)), (3, size, size))
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model.eval()(x)
    assert ours.shape == (2, dim)
    torch.testing.assert_close(ours, _timm_features(name, path, x), rtol=0, atol=0)
    random, _ = build_backbone(_cfg(name=name), (3, size, size))
    assert not torch.equal(random.eval()(x), ours)  # the weights did come from the file


def test_checkpoint_of_another_network_is_one_line(tmp_path):
    path = _saved(tmp_path, "test_resnet")
    with pytest.raises(ClbenchError, match=r"does not fit backbone 'test_vit': \d+ missing key"):
        build_backbone(_cfg(name="test_vit", checkpoint=str(path)), (3, 160, 160))
    torch.save({"stem.0.weight": torch.zeros(1)}, path)
    with pytest.raises(ClbenchError, match="does not fit backbone 'resnet20'"):
        build_backbone(_cfg(name="resnet20", checkpoint=str(path)), (3, 32, 32))


def test_pretrained_without_network_or_cache_is_one_line(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ClbenchError) as e:
        build_backbone(_cfg(name="test_resnet", pretrained=True), (3, 32, 32))
    msg = str(e.value)
    assert "\n" not in msg and "'test_resnet'" in msg and "backbone.checkpoint=FILE" in msg
    assert "timm.create_model('test_resnet', pretrained=True)" in msg


def test_names_timm_does_not_know_or_without_weights():
    with pytest.raises(
        ClbenchError,
        match="unknown backbone 'resnet81'; did you mean .*built-ins: "
        "convnet, mlp, reduced-resnet18, resnet18, resnet20, resnet32; any timm",
    ):
        build_backbone(_cfg(name="resnet81"), (3, 32, 32))
    with pytest.raises(
        ClbenchError, match="no weights tagged .no_such_tag. for resnet18; its .*tv_in1k"
    ):
        build_backbone(_cfg(name="resnet18.no_such_tag"), (3, 32, 32))
    with pytest.raises(ClbenchError, match="'resnet20' has no pretrained weights"):
        build_backbone(_cfg(name="resnet20", pretrained=True), (3, 32, 32))


def test_input_contract_is_timms_pretrained_config(tmp_path):
    # NMC's backbone: read from timm's registry, no weights, no network
    vit = input_contract(_cfg(name="vit_base_patch16_224.augreg_in21k", pretrained=True))
    assert vit == InputContract((224, 224), "bicubic", (0.5,) * 3, (0.5,) * 3)
    imagenet = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    # resnet18's default tag (a1_in1k) trains at 224 bicubic; torchvision's weights: bilinear
    assert input_contract(_cfg(name="resnet18", pretrained=True)) == InputContract(
        (224, 224), "bicubic", *imagenet
    )
    tv = input_contract(_cfg(name="resnet18.tv_in1k", checkpoint=str(tmp_path / "w.pth")))
    assert tv == InputContract((224, 224), "bilinear", *imagenet)
    for name in ("mlp", "convnet", "reduced-resnet18", "resnet20", "resnet32", "resnet18"):
        assert input_contract(_cfg(name=name)) is None  # random init: the dataset's own
    # a ViT cannot run at another size: its contract even at random init (our choice)
    assert input_contract(_cfg(name="test_vit")).size == (160, 160)


def test_list_shows_the_built_in_backbones_and_that_any_timm_name_works(capsys):
    from clbench.backbones import BACKBONES
    from clbench.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out.split("backbones (backbone.name):")[1]
    assert all(f"  {e.name}  " in out for e in BACKBONES)
    assert "any timm model name works too" in out


@pytest.mark.slow  # a clbench subprocess
def test_cli_pretrained_without_network_prints_one_line_and_exits_2(run_cli, tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "TORCH_HOME": str(tmp_path)}
    args = ["backbone.name=resnet18.tv_in1k", "backbone.pretrained=true"]
    p = run_cli("run", "--scenario", "split-digits", *args, f"results.dir={tmp_path}", env=env)
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("clbench: error: cannot get the ")
    assert "'resnet18.tv_in1k'" in p.stderr and "backbone.checkpoint=FILE" in p.stderr
    assert str(tmp_path / "hf" / "hub") in p.stderr  # where the fetched weights must go


def test_rgb_weights_on_grey_input_are_adapted_as_timm_does(tmp_path):
    path = _saved(tmp_path, "test_resnet")
    model, _ = build_backbone(_cfg(name="test_resnet", checkpoint=str(path)), (1, 32, 32))
    x = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    ref = timm.create_model(
        "test_resnet",
        pretrained=True,
        num_classes=0,
        in_chans=1,
        pretrained_cfg_overlay={"file": str(path)},
    )
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), ref.eval()(x), rtol=0, atol=0)


def test_a_checkpoint_wins_over_pretrained_and_nothing_downloads(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # a download attempt would fail
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    path = _saved(tmp_path, "test_resnet")
    cfg = _cfg(name="test_resnet", pretrained=True, checkpoint=str(path))
    model, _ = build_backbone(cfg, (3, 32, 32))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), _timm_features("test_resnet", path, x))
