"""Local backbone weights (`backbone.checkpoint=FILE`) in the formats timm reads.

A state_dict saved with torch.save (.pth/.pt/.bin) or safetensors (.safetensors), bare or
wrapped as {'state_dict': ...} / {'model': ...} (timm prefers an EMA copy when the file has
one), 'module.' / '_orig_mod.' prefixes (DDP, torch.compile) removed: timm's
`load_state_dict`. For a timm model, the classifier keys its pretrained config names are
dropped (clbench builds backbones without one) and a first conv of other input channels is
adapted as timm adapts its own weights; everything else must match exactly, or a one-line
ClbenchError says what does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from clbench.errors import ClbenchError

FORMATS = "a state_dict file (.pth/.pt/.bin via torch.load, or .safetensors)"


def read_state_dict(path: Path) -> dict[str, Any]:
    """The tensors of a weights file, or a one-line ClbenchError."""
    from timm.models import load_state_dict

    if path.is_dir():
        raise ClbenchError(f"backbone.checkpoint {path} is a folder, not {FORMATS}")
    if not path.is_file():
        raise ClbenchError(f"backbone checkpoint {path} does not exist (backbone.checkpoint)")
    try:
        state = load_state_dict(str(path))
    except Exception:  # noqa: BLE001 - any read failure is the user's file
        raise ClbenchError(f"backbone.checkpoint {path} is not {FORMATS}") from None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ClbenchError(f"backbone.checkpoint {path} holds no state_dict of tensors")
    return state


def _classifier_keys(model: nn.Module) -> tuple[str, ...]:
    heads = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or ()
    return (heads,) if isinstance(heads, str) else tuple(heads)


def _adapt_input_conv(model: nn.Module, state: dict[str, Any], own: dict[str, Any]) -> dict:
    """RGB weights for a stream of another channel count: timm's `adapt_input_conv` (as timm
    does for its own pretrained weights, e.g. summed over RGB for 1-channel input)."""
    from timm.models import adapt_input_conv

    first = (getattr(model, "pretrained_cfg", None) or {}).get("first_conv") or ()
    for conv in (first,) if isinstance(first, str) else first:
        k = f"{conv}.weight"
        if k in state and k in own and state[k].dim() == 4 and state[k].shape != own[k].shape:
            if state[k].shape[0] == own[k].shape[0] and state[k].shape[2:] == own[k].shape[2:]:
                state = {**state, k: adapt_input_conv(own[k].shape[1], state[k])}
    return state


def fit_problem(state: dict[str, Any], own: dict[str, torch.Tensor]) -> str | None:
    """What keeps `state` from loading into a module whose state_dict is `own`, or None."""
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        parts = [f"{len(missing)} missing key(s), e.g. '{missing[0]}'"] if missing else []
        parts += [f"{len(extra)} unexpected key(s), e.g. '{extra[0]}'"] if extra else []
        return "; ".join(parts)
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            return f"'{k}' has shape {tuple(state[k].shape)}, the backbone's {tuple(v.shape)}"
    return None


def load_weights(model: nn.Module, file: str, name: str, timm_model: bool) -> None:
    """Load the weights file `file` into backbone `model` (named `name`), in place."""
    path = Path(file).expanduser()
    state = read_state_dict(path)
    own = model.state_dict()
    if timm_model:  # a timm checkpoint carries its classifier; our backbone has none
        heads = tuple(f"{h}." for h in _classifier_keys(model))
        state = {k: v for k, v in state.items() if k in own or not k.startswith(heads)}
        state = _adapt_input_conv(model, state, own)
    problem = fit_problem(state, own)
    if problem:
        raise ClbenchError(f"backbone.checkpoint {path} does not fit backbone '{name}': {problem}")
    model.load_state_dict(state)
