"""Feature extractors chosen by name (`backbone.name`); each returns (module, feature_dim).

A backbone may start from a local state_dict (`backbone.checkpoint=PATH`); nothing downloads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from clbench.errors import ClbenchError
from clbench.registry import Registry

BACKBONES = Registry("backbone")
BACKBONES.add(
    "mlp",
    "clbench.backbones:mlp",
    "fully connected ReLU layers (backbone.hidden_dim x backbone.num_layers)",
)
BACKBONES.add("convnet", "clbench.backbones:convnet", "small 3-block CNN for 28x28-sized input")
BACKBONES.add("resnet18", "clbench.backbones:resnet18", "timm ResNet-18, random init, for images")


def mlp(cfg: Any, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for _ in range(cfg.num_layers):
        layers += [nn.Linear(width, cfg.hidden_dim), nn.ReLU()]
        width = cfg.hidden_dim
    return nn.Sequential(*layers), width


def convnet(cfg: Any, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    chans = [input_shape[0], 32, 64, 128]
    layers: list[nn.Module] = []
    for cin, cout in zip(chans[:-1], chans[1:], strict=True):
        layers += [
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), chans[-1]


def resnet18(cfg: Any, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    import timm

    model = timm.create_model("resnet18", pretrained=False, num_classes=0, in_chans=input_shape[0])
    return model, int(model.num_features)


@dataclass(frozen=True)
class InputContract:
    """What a backbone expects of its input batches: size (H, W), resampling, mean and std.

    A pretrained backbone brings one (its timm pretrained config); the stream's images are
    resized and normalised to it per batch on the device instead of the dataset's statistics.
    """

    size: tuple[int, int]
    interpolation: str  # "bilinear" | "bicubic" | "nearest"
    mean: tuple[float, ...]
    std: tuple[float, ...]


def input_contract(cfg: Any) -> InputContract | None:
    """The input contract of the backbone `cfg` describes, or None: the dataset's own."""
    return None


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def build_backbone(cfg: Any, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    """The backbone named by `cfg.name`, loaded from `cfg.checkpoint` when one is given."""
    model, dim = BACKBONES.load(cfg.name)(cfg, tuple(input_shape))
    if cfg.checkpoint:
        path = Path(str(cfg.checkpoint)).expanduser()
        if path.is_dir():
            raise ClbenchError(f"backbone.checkpoint {path} is a folder, not a state_dict file")
        if not path.is_file():
            raise ClbenchError(f"backbone checkpoint {path} does not exist (backbone.checkpoint)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - any load failure is the user's file
            raise ClbenchError(
                f"backbone.checkpoint {path} is not a PyTorch state_dict file "
                "(torch.load cannot read it)"
            ) from None
        if not isinstance(state, dict):
            raise ClbenchError(
                f"backbone.checkpoint {path} holds a {type(state).__name__}, not a state_dict"
            )
        try:
            model.load_state_dict(state.get("state_dict", state))
        except Exception as e:  # noqa: BLE001 - weights of another network
            raise ClbenchError(
                f"backbone.checkpoint {path} does not fit backbone '{cfg.name}': {_first_line(e)}"
            ) from None
    return model, dim
