"""The CIFAR-sized ResNets of the continual-learning literature (3x3 stem, no max-pool).

- `reduced-resnet18`: the "reduced ResNet-18" of GEM (Lopez-Paz & Ranzato, 2017), as
  Avalanche's `SlimResNet18` defines it: four stages of two basic blocks, widths nf, 2nf, 4nf,
  8nf (nf=20 there; OnPro's and OCM's code use nf=64), 1x1-conv+BN projection shortcuts.
- `resnet20`: ResNet-20 (He et al., 2016, Sec. 4.2) as CEC's and TEEN's code build it for
  CIFAR-100 FSCIL (models/resnet20_cifar.py): stages of 3 blocks at 16/32/64 channels,
  1x1-conv+BN projection shortcuts (option B), Kaiming-normal fan-out conv init.
- `resnet32`: ResNet-32 as iCaRL and PyCIL use it (PyCIL convs/cifar_resnet.py): stages of 5
  blocks at 16/32/64 channels, parameter-free shortcuts (option A: stride-2 subsampling, zero
  channels appended), the same conv init.
Each returns pooled features (global average pool, flattened). OUR CHOICES: the pool is
adaptive (the references' fixed 4x4 / 8x8 pools equal it on 32x32 input, and other sizes
still work); the stem takes the stream's channel count (the references hard-code 3).
Parameter counts against the references: tests/test_cifar_resnets.py, docs/backbones.md.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

REDUCED_RESNET18_NF = 20  # GEM's and Avalanche's width (`backbone.nf=null`)


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class PadShortcut(nn.Module):
    """Option A shortcut: keep every `stride`-th pixel, append zero channels up to `cout`."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.extra, self.stride = cout - cin, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class Block(nn.Module):
    """Basic residual block: two 3x3 conv+BN, ReLU after the first and after the sum."""

    def __init__(self, cin: int, cout: int, stride: int, shortcut: str) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv3x3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = _conv3x3(cout, cout), nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            if shortcut == "pad":
                self.shortcut = PadShortcut(cin, cout, stride)
            else:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """3x3 stem conv+BN+ReLU, stages of basic blocks (the first stage at stride 1, the others
    halving the resolution), global average pool. `widths[i]` channels, `depths[i]` blocks."""

    def __init__(
        self, in_chans: int, widths: list[int], depths: list[int], shortcut: str, init: bool
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            _conv3x3(in_chans, widths[0]), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        stages, cin = [], widths[0]
        for i, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            blocks = []
            for j in range(depth):
                blocks.append(Block(cin, width, 2 if i > 0 and j == 0 else 1, shortcut))
                cin = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features = cin
        if init:  # the ResNet-20/32 references' init (PyTorch's defaults otherwise)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def reduced_resnet18(cfg: Any, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    nf = REDUCED_RESNET18_NF if cfg.get("nf") is None else int(cfg.nf)
    model = CifarResNet(input_shape[0], [nf, 2 * nf, 4 * nf, 8 * nf], [2] * 4, "conv", False)
    return model, model.num_features


def resnet20(cfg: Any, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    model = CifarResNet(input_shape[0], [16, 32, 64], [3] * 3, "conv", True)
    return model, model.num_features


def resnet32(cfg: Any, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    model = CifarResNet(input_shape[0], [16, 32, 64], [5] * 3, "pad", True)
    return model, model.num_features
