"""The CL-standard architectures against their references: parameter counts, feature shapes,
and (for Avalanche's SlimResNet18, installed) the same features from the same weights."""

import pytest
import torch
from omegaconf import OmegaConf

from clbench.backbones import build_backbone
from clbench.config import BackboneConfig


def _build(name, shape=(3, 32, 32), **kw):
    return build_backbone(OmegaConf.structured(BackboneConfig(name=name, **kw)), shape)


def _count(model):
    return sum(p.numel() for p in model.parameters())


def _slim(nf):
    slim_resnet18 = pytest.importorskip("avalanche.models.slim_resnet18")
    ref = slim_resnet18.SlimResNet18(10, nf)
    ref.linear = torch.nn.Identity()  # its features: everything before the classifier
    return ref.eval()


# Avalanche's SlimResNet18(nclasses, nf) minus its nf*8 -> nclasses linear layer, counted by
# instantiating it (the slow test below does so again): nf=20 (GEM, Avalanche), nf=64 (OnPro).
SLIM_RESNET18 = {20: 1_093_140, 64: 11_168_832}


@pytest.mark.parametrize("nf", [20, 64])
def test_reduced_resnet18_counts(nf):
    model, dim = _build("reduced-resnet18", nf=nf)
    assert _count(model) == SLIM_RESNET18[nf] and dim == 8 * nf
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 8 * nf)


@pytest.mark.slow  # importing avalanche takes ~10 s
@pytest.mark.parametrize("nf", [20, 64])
def test_reduced_resnet18_is_avalanches_slim_resnet18(nf):
    ref = _slim(nf)
    model, dim = _build("reduced-resnet18", nf=nf)
    assert _count(model) == _count(ref) and dim == 8 * nf
    # same registration order, so the two state_dicts pair up value by value
    ours, theirs = model.state_dict(), ref.state_dict()
    assert [v.shape for v in ours.values()] == [v.shape for v in theirs.values()]
    model.load_state_dict(dict(zip(ours, theirs.values(), strict=True)))
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), ref(x))


# Reference counts, obtained by instantiating the fetched reference code in /tmp (TEEN and
# CEC-CVPR2021 models/resnet20_cifar.py resnet20(); PyCIL convs/cifar_resnet.py resnet32()
# minus its 10-way fc) and checked by hand: 3x3 conv = 9*cin*cout, BN = 2*c, blocks of
# 16/32/64 channels. ResNet-20: stem 432+32, stage 1 3*(2*2304+64) = 14016, stage 2
# (4608+9216+128) + 1x1 shortcut 512+64 + 2*(2*9216+128) = 51648, stage 3 (18432+36864+256)
# + 2048+128 + 2*(2*36864+256) = 205696: 271824. ResNet-32 (parameter-free shortcuts):
# 464 + 5*4672 + (13952 + 4*18560) + (55552 + 4*73984) = 463504.
RESNET20_CEC_TEEN = 271_824
RESNET32_PYCIL = 463_504
# timm's resnet18 without classifier; torchvision.models.resnet18() minus fc, which TEEN's
# models/resnet18_encoder.py follows, has the same count.
RESNET18_TORCHVISION = 11_176_512


@pytest.mark.parametrize(
    ("name", "count"), [("resnet20", RESNET20_CEC_TEEN), ("resnet32", RESNET32_PYCIL)]
)
def test_cifar_resnets_match_their_references(name, count):
    model, dim = _build(name)
    assert _count(model) == count and dim == 64
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 64)


def test_resnet18_is_torchvisions_resnet18():
    model, dim = _build("resnet18")
    assert _count(model) == RESNET18_TORCHVISION and dim == 512
    tv = pytest.importorskip("torchvision").models.resnet18()
    assert _count(tv) - _count(tv.fc) == RESNET18_TORCHVISION


def test_resnet32_shortcut_is_parameter_free_and_resnet20_projects():
    r32, _ = _build("resnet32")
    r20, _ = _build("resnet20")
    assert not any("shortcut" in k for k in r32.state_dict())
    # stages 2 and 3 open with a 1x1 conv + BN projection: 2 x (conv weight, BN weight, bias)
    assert sum("shortcut" in k for k, _ in r20.named_parameters()) == 6
    x = torch.arange(2 * 16 * 4 * 4, dtype=torch.float).view(2, 16, 4, 4)
    out = r32.stages[1][0].shortcut(x)  # stride-2 subsampling, 16 zero channels appended
    assert out.shape == (2, 32, 2, 2)
    assert torch.equal(out[:, :16], x[:, :, ::2, ::2]) and not out[:, 16:].any()


def test_cifar_resnets_take_other_channels_and_sizes():
    model, dim = _build("resnet20", (1, 28, 28))
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, dim)
