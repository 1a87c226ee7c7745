"""Feature extractors chosen by name (`backbone.name`); each returns (module, feature_dim).

The built-ins (`BACKBONES`: mlp, convnet, the CIFAR ResNets of clbench/cifar_resnets.py,
resnet18) or any timm model name (`timm.list_models()`), built with `num_classes=0` so that it
returns pooled features. `backbone.pretrained=true` takes a timm model's weights through timm
(its hub cache; downloads only where there is network); `backbone.checkpoint=FILE` loads local
weights (clbench/weights.py) and, when both are given, wins (nothing downloads). A pretrained
timm backbone brings its input contract (`input_contract`). Table: docs/backbones.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clbench.errors import ClbenchError, closest
from clbench.registry import Registry

BACKBONES = Registry("backbone")
BACKBONES.add(
    "mlp",
    "clbench.backbones:mlp",
    "fully connected ReLU layers (backbone.hidden_dim x backbone.num_layers)",
)
BACKBONES.add("convnet", "clbench.backbones:convnet", "small 3-block CNN for 28x28-sized input")
BACKBONES.add(
    "reduced-resnet18",
    "clbench.cifar_resnets:reduced_resnet18",
    "GEM's reduced ResNet-18 for 32x32 input (Avalanche SlimResNet18), width backbone.nf",
)
BACKBONES.add(
    "resnet20", "clbench.cifar_resnets:resnet20", "CIFAR ResNet-20 as CEC and TEEN build it"
)
BACKBONES.add(
    "resnet32", "clbench.cifar_resnets:resnet32", "CIFAR ResNet-32 as iCaRL and PyCIL build it"
)
BACKBONES.add(
    "resnet18",
    "clbench.backbones:timm_backbone",
    "timm ResNet-18 (ImageNet stem; = torchvision's), for 84-224 px images",
    timm=True,
)
if TYPE_CHECKING:
    from torch import nn
TIMM_HINT = "any timm model name works too (timm.list_models())"


# torch is imported where a backbone is built: `clbench list` reads the registry without it
def mlp(cfg: Any, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    from torch import nn

    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for _ in range(cfg.num_layers):
        layers += [nn.Linear(width, cfg.hidden_dim), nn.ReLU()]
        width = cfg.hidden_dim
    return nn.Sequential(*layers), width


def convnet(cfg: Any, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    from torch import nn

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


def is_timm(name: str) -> bool:
    """Whether `name` is a timm model (False for the other built-ins); an unknown name is a
    one-line ClbenchError that lists the built-ins."""
    if name in BACKBONES:
        return bool(BACKBONES.get(name).meta.get("timm"))
    import timm

    if timm.is_model(name):
        try:
            timm.get_pretrained_cfg(name)
        except RuntimeError:  # an architecture timm knows, with a tag it does not
            arch, _, tag = name.partition(".")
            tags = ", ".join(n.partition(".")[2] for n in timm.list_pretrained(f"{arch}.*"))
            raise ClbenchError(
                f"timm has no weights tagged '{tag}' for {arch}; its tags: {tags or 'none'}"
            ) from None
        return True
    near = closest(name, list(dict.fromkeys([e.name for e in BACKBONES] + timm.list_models())))
    hint = f"did you mean {', '.join(near)}? " if near else ""
    builtins = ", ".join(e.name for e in BACKBONES)
    raise ClbenchError(f"unknown backbone '{name}'; {hint}built-ins: {builtins}; {TIMM_HINT}")


def _fetch_hint(name: str) -> str:
    return (
        f'fetch them beforehand on a machine with network (python -c "import timm; '
        f"timm.create_model('{name}', pretrained=True)\", then copy its hub cache "
        f"{_hub_cache()} here) or give the weights as backbone.checkpoint=FILE"
    )


def _hub_cache() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def timm_backbone(cfg: Any, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    """timm model `cfg.name` without its classifier; pretrained weights when `cfg.pretrained`
    and no `cfg.checkpoint` (then the checkpoint gives them: clbench/weights.py)."""
    import timm
    from timm.models import is_model_pretrained

    name = str(cfg.name)
    download = bool(cfg.pretrained) and not cfg.checkpoint
    if download and not is_model_pretrained(name):
        raise ClbenchError(
            f"timm has no pretrained weights for '{name}'; pick a name from "
            "timm.list_models(pretrained=True) or give backbone.checkpoint=FILE"
        )
    try:
        model = timm.create_model(name, pretrained=download, num_classes=0, in_chans=input_shape[0])
    except OSError:  # not in the hub cache, and no network (huggingface_hub, urllib)
        raise ClbenchError(
            f"cannot get the pretrained weights of timm model '{name}' (not in the hub cache, "
            f"no network); {_fetch_hint(name)}"
        ) from None
    dim = getattr(model, "head_hidden_size", None) or model.num_features
    return model, int(dim)


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
    """The input contract of the backbone `cfg` describes, or None: the dataset's own.

    A timm backbone with weights (`pretrained`, or a `checkpoint`: assumed to hold weights of
    the same pretraining) brings its pretrained config's training-time values
    (`timm.data.resolve_data_config`; no network, no weights needed). So does a timm model
    whose input size is fixed (ViTs; our choice: it cannot run at another size). Others: None.
    """
    name = str(cfg.name)
    if not is_timm(name):
        return None
    import timm
    from timm.data import resolve_data_config

    pcfg = timm.get_pretrained_cfg(name)
    if pcfg is None:
        return None
    if not (cfg.pretrained or cfg.checkpoint or pcfg.fixed_input_size):
        return None
    data = resolve_data_config({}, pretrained_cfg=pcfg.to_dict())
    return InputContract(
        size=(int(data["input_size"][1]), int(data["input_size"][2])),
        interpolation=str(data["interpolation"]),
        mean=tuple(float(v) for v in data["mean"]),
        std=tuple(float(v) for v in data["std"]),
    )


def build_backbone(cfg: Any, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    """The backbone named by `cfg.name`, loaded from `cfg.checkpoint` when one is given."""
    name = str(cfg.name)
    timm_model = is_timm(name)
    if cfg.pretrained and not timm_model:
        raise ClbenchError(
            f"backbone '{name}' has no pretrained weights; backbone.pretrained=true needs a "
            "timm model name (e.g. resnet18.tv_in1k), or give backbone.checkpoint=FILE"
        )
    build = timm_backbone if timm_model else BACKBONES.load(name)
    model, dim = build(cfg, tuple(input_shape))
    if cfg.checkpoint:
        from clbench.weights import load_weights

        load_weights(model, str(cfg.checkpoint), name, timm_model)
    return model, dim
