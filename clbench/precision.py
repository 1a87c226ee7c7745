"""Numeric precision (`trainer.precision`): which values run where, and inputs that follow the
model's dtype.

Lightning converts the model for the `-true` modes (64-true: float64 weights; 16-true and
bf16-true: half weights) and casts the batches of its own training step, but a strategy also
meets data outside that step: evaluation, online predictions, feature caches, replay buffers,
frozen teachers. The runner converts the model once before the stream (so a strategy that
never trains, e.g. NMC, runs in the chosen dtype too), and `follow_param_dtype`, a forward
pre-hook on the backbone and the head, casts a floating-point input to the dtype of the
module's parameters wherever it comes from (never under autocast: the mixed modes keep float32
weights and let autocast choose). Values Lightning would not run as asked (16-mixed on a CPU,
where Lightning silently runs bf16-mixed instead) are refused in one line.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from clbench.errors import ClbenchError

# Lightning's legacy spellings and what they mean
ALIASES = {"32": "32-true", "64": "64-true", "16": "16-mixed", "bf16": "bf16-mixed"}
ON_CPU = ("32-true", "64-true", "bf16-mixed", "bf16-true", "16-true")
GPU_ONLY = ("16-mixed", "transformer-engine", "transformer-engine-float16")
FLOAT16_MAX = 65504.0


def canonical(precision: Any) -> str:
    """The Lightning name of a precision value ('64' and 64 -> '64-true')."""
    name = str(precision)
    return ALIASES.get(name, name)


def supported() -> str:
    """Which values run where, in words (for error messages and the docs)."""
    return (
        f"on CPU: {', '.join(ON_CPU)}; on CUDA GPUs also 16-mixed and, with NVIDIA's "
        f"transformer_engine, {', '.join(GPU_ONLY[1:])} "
        f"(aliases: {', '.join(f'{a}={b}' for a, b in ALIASES.items())})"
    )


def check(precision: Any, on_cpu: bool, lr: float | None = None) -> str:
    """The canonical name of `precision`, or a one-line error when it cannot run as asked
    (`lr`: the learning rate, which the optimizer multiplies into float16 weights)."""
    name = canonical(precision)
    if name == "16-true" and lr is not None and abs(lr) > FLOAT16_MAX:
        raise ClbenchError(
            f"train.lr={lr:g} overflows float16 (max 65504): trainer.precision=16-true"
        )
    if name not in ON_CPU + GPU_ONLY:
        raise ClbenchError(f"unknown trainer.precision '{precision}'; {supported()}")
    if on_cpu and name not in ON_CPU:
        given = name if str(precision) == name else f"{precision} (= {name})"
        raise ClbenchError(f"trainer.precision={given} does not run on a CPU; {supported()}")
    return name


def model_dtype(module: nn.Module) -> torch.dtype | None:
    """The dtype of the module's first floating-point parameter (or buffer); None if none."""
    for t in (*module.parameters(), *module.buffers()):
        if t.is_floating_point():
            return t.dtype
    return None


def as_model_input(x: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """`x` in the dtype of `module`'s parameters when both are floating point (outside
    autocast, which picks its own dtypes); anything else unchanged."""
    if not torch.is_tensor(x) or not x.is_floating_point():
        return x
    if torch.is_autocast_enabled(x.device.type):
        return x
    dtype = model_dtype(module)
    return x if dtype is None or x.dtype == dtype else x.to(dtype)


def follow_param_dtype(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """Forward pre-hook: the first input cast by `as_model_input` (None: unchanged)."""
    if not args:
        return None
    x = as_model_input(args[0], module)
    return None if x is args[0] else (x, *args[1:])


def follow_model_dtype(model: nn.Module, entries: tuple[str, ...] = ("backbone", "head")) -> None:
    """Hook `follow_param_dtype` on every submodule named like an entry point (the strategy's
    backbone and head, and those of its frozen copies): whatever feeds them, they get their
    own dtype. Hooks are not state: a resumed run registers them again."""
    for name, m in model.named_modules():
        if name.rsplit(".", 1)[-1] in entries:
            m.register_forward_pre_hook(follow_param_dtype)
