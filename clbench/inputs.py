"""Raw batches to model inputs, on the device: the one preprocessing every path goes through.

Image streams keep their images as uint8 at the stored (or load) resolution; a strategy turns
a raw batch into what its backbone takes with `Strategy.inputs(x)` (strategies/base.py), the
moment the batch reaches the device: training batches, replayed samples, evaluation, online
predictions and feature caches alike. `InputPipeline` is that step, per batch:

- uint8 (N, C, H, W): to the backbone's dtype, scaled to [0, 1]; resized to `size` when it
  differs (F.interpolate, antialiased when shrinking; bicubic clamped to [0, 1], as a uint8
  image resized by PIL is: our choice); normalised per channel with `mean` / `std`;
- float batches are model inputs already (the digit streams): returned unchanged, the very
  same tensor, so their results stay bit for bit; only resized when `size` asks for another.

`size`, `mean` and `std` come from the backbone's `InputContract` when it brings one
(clbench/backbones.py), else from the scenario (`info["normalization"]`, no resize).
The training augmentation (clbench/augment.py) comes after this, on normalised floats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from clbench.precision import model_dtype


@dataclass(frozen=True)
class InputPipeline:
    """uint8 images -> float model inputs (see the module doc); float batches pass through."""

    size: tuple[int, int] | None = None  # (H, W) the backbone takes; None: as stored
    interpolation: str = "bilinear"  # "bilinear" | "bicubic" | "nearest"
    mean: tuple[float, ...] | None = None  # None: no normalisation (x / 255 only)
    std: tuple[float, ...] | None = None

    @classmethod
    def of(cls, info: Mapping[str, Any], contract: Any = None) -> InputPipeline:
        """The scenario's normalisation (`info["normalization"]`, stored size), or the
        backbone's `InputContract` (its size, interpolation, mean and std) when given."""
        if contract is not None:
            return cls(
                tuple(int(s) for s in contract.size),
                str(contract.interpolation),
                tuple(float(m) for m in contract.mean),
                tuple(float(s) for s in contract.std),
            )
        norm = info.get("normalization")
        if not norm:
            return cls()
        return cls(None, "bilinear", _floats(norm["mean"]), _floats(norm["std"]))

    def shape(self, stored: Sequence[int]) -> tuple[int, ...]:
        """The input shape the backbone is built for, from the stream's stored shape."""
        stored = tuple(int(d) for d in stored)
        return stored if self.size is None else (*stored[:-2], *self.size)

    def __call__(self, x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        if x.dtype != torch.uint8:
            return self._resize(x)  # already a model input (float streams): x itself
        # the same elementwise ops as the host-side normalisation had (bit-identical in f32)
        x = self._resize(x.to(dtype) / 255.0, pixels=True)
        if self.mean is None or self.std is None:
            return x
        shape = (1, -1) + (1,) * (x.dim() - 2)
        m = torch.tensor(self.mean, dtype=dtype).view(shape).to(x.device)
        s = torch.tensor(self.std, dtype=dtype).view(shape).to(x.device)
        return (x - m) / s

    def _resize(self, x: torch.Tensor, pixels: bool = False) -> torch.Tensor:
        if self.size is None or x.dim() != 4 or tuple(x.shape[-2:]) == self.size:
            return x
        mode = self.interpolation
        if mode == "nearest":
            return F.interpolate(x, size=self.size, mode="nearest")
        shrink = x.shape[-2] > self.size[0] or x.shape[-1] > self.size[1]
        out = F.interpolate(x, size=self.size, mode=mode, align_corners=False, antialias=shrink)
        return out.clamp(0, 1) if mode == "bicubic" and pixels else out  # [0, 1] pixels only


def param_dtype(module: torch.nn.Module) -> torch.dtype:
    """The dtype `module`'s inputs take: its parameters' (clbench.precision), else float32."""
    return model_dtype(module) or torch.float32


def _floats(v: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(a) for a in v)
