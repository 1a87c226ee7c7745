"""Batch augmentations: whole (N, C, H, W) batches transformed on their device, in one module.

Every transform has the signature `f(x, generator=None, **params) -> x`, all params with
defaults, and is registered by name in `BATCH_TRANSFORMS` (`batch_transform(name, **params)`
binds params). Per-sample parameters are drawn on the CPU from `generator` (the global one if
None), so the output does not depend on the device and DDP processes seeded alike agree.

- "none", "flip", "crop-pad4-flip", "random-resized-crop-flip": the scenarios' training
  augmentations (`Scenario.info["train_transform"]`, applied by `strategies/base.py` to every
  training batch), on normalised float batches;
- "onpro": OnPro's view A (`onpro_view`, random resized crop by rejection `crop_size`,
  grayscale, flip as one affine resampling);
- "cotta": VDP's CoTTA-style augmentations (`cotta_view`, photometric + affine + flip + noise
  in [0, 1] pixel space).

kornia and torchvision.transforms.v2 batch ops are not used: their per-sample random draws
differ from these reference-matched ones (e.g. OnPro's crop-size rejection sampling), and the
committed records are reproduced bit for bit from these exact draws.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from clbench.errors import unknown

BatchTransform = Callable[..., torch.Tensor]  # (x, generator=None, **params) -> x

# -- shared helpers ----------------------------------------------------------------------------


def _coins(n: int, generator: torch.Generator | None) -> torch.Tensor:
    """n fair coin tosses (bool, on the CPU): one uniform draw per sample, < 0.5."""
    return torch.rand(n, generator=generator, device="cpu") < 0.5


def _flip_where(x: torch.Tensor, hit: torch.Tensor) -> torch.Tensor:
    """Images of `x` mirrored left-right where `hit` (a CPU bool per image) is set."""
    return torch.where(hit.to(x.device).view(len(x), 1, 1, 1), x.flip(3), x)


def _resample(x: torch.Tensor, theta: torch.Tensor, padding_mode: str) -> torch.Tensor:
    """Bilinear resampling of `x` through per-image affine maps `theta` (N, 2, 3), from output
    to input coordinates in [-1, 1] (`F.affine_grid`, align_corners=False)."""
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


# -- the scenarios' training augmentations -----------------------------------------------------


def identity(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """No augmentation (draws nothing)."""
    return x


def flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random horizontal flip per image."""
    return _flip_where(x, _coins(len(x), generator))


def crop_pad4_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop of the original size from the image zero-padded by 4 pixels, then a random
    horizontal flip (the CIFAR standard). Zero is the mean pixel after normalisation."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=generator, device="cpu").tolist()
    dx = torch.randint(0, 9, (n,), generator=generator, device="cpu").tolist()
    hit = _coins(n, generator)
    out = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    return _flip_where(out, hit)


def random_resized_crop_flip(
    x: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """torchvision's RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) back to the stored size,
    then a random horizontal flip; applied to the stored (already centre-cropped) image:
    our choice, so that train and test tensors share one shape."""
    n, _, h, w = x.shape
    out = torch.empty_like(x)
    u = torch.rand(n, 4, 4, generator=generator, device="cpu").tolist()
    log_r = (math.log(3 / 4), math.log(4 / 3))
    for i in range(n):
        top, left, ch, cw = 0, 0, h, w  # fallback: the whole image
        for scale, r, ut, ul in u[i]:  # a few tries, like torchvision (which makes 10)
            area = h * w * (0.08 + 0.92 * scale)
            ratio = math.exp(log_r[0] + (log_r[1] - log_r[0]) * r)
            cw_, ch_ = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
            if 0 < cw_ <= w and 0 < ch_ <= h:
                ch, cw = ch_, cw_
                top, left = int(ut * (h - ch + 1)), int(ul * (w - cw + 1))
                break
        crop = x[i : i + 1, :, top : top + ch, left : left + cw]
        out[i] = F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)[0]
    return _flip_where(out, _coins(n, generator))


# -- OnPro's view A (strategies/onpro/) --------------------------------------------------------

CROP_TRIALS = 10  # the code draws 10 crop-size trials per image (RandomResizedCropLayer)


def crop_size(area: torch.Tensor, ratio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Random-resized-crop size by rejection, as the code: (n, T) trials of relative `area` and
    aspect `ratio` give width sqrt(area·ratio) and height sqrt(area/ratio) (fractions of the
    image side); each image takes its first trial that fits in the image (both ≤ 1), and the
    whole image (1, 1) if none does. Returns (width, height), each (n,).

    The code pools the N·10 trials of a batch and hands the first N that fit to the N images in
    order (the same distribution while at least N fit) and rounds sizes to whole pixels; ours
    keeps them continuous.
    """
    w, h = (area * ratio).sqrt(), (area / ratio).sqrt()
    fits = (w <= 1) & (h <= 1)
    first = fits.to(torch.int8).argmax(1, keepdim=True)  # first fitting trial (0 if none)
    any_fit = fits.any(1)
    one = torch.ones((), dtype=w.dtype)
    width = torch.where(any_fit, w.gather(1, first).squeeze(1), one)
    height = torch.where(any_fit, h.gather(1, first).squeeze(1), one)
    return width, height


def onpro_view(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    scale: tuple[float, float] = (0.3, 1.0),
    hflip: bool = True,
    gray_p: float = 0.25,
) -> torch.Tensor:
    """OnPro's view A(x) as batch ops (defaults: the paper's): optional random grayscale
    (3 channels, luminance weights), random horizontal flip and random resized crop (area
    `scale`, aspect 3/4-4/3, size by `crop_size`), the crop and flip as one affine resampling
    with reflection padding (the code's layers use the same affine grids)."""
    n, c = x.shape[:2]
    u = torch.rand(n, 3, generator=generator, dtype=torch.float64)
    if c == 3 and gray_p > 0:
        weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype)
        gray = (x * weights.view(1, 3, 1, 1)).sum(1, keepdim=True).expand_as(x)
        x = torch.where((u[:, 0] < gray_p).to(x.device).view(n, 1, 1, 1), gray, x)
    t = torch.rand(n, 2 * CROP_TRIALS, generator=generator, dtype=torch.float64)
    area = scale[0] + (scale[1] - scale[0]) * t[:, :CROP_TRIALS]
    log_r = math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * t[:, CROP_TRIALS:]
    sw, sh = crop_size(area, log_r.exp())  # crop width, height / image width, height
    cx = (1 - sw) * (2 * u[:, 1] - 1)  # crop centre in [-1, 1] coordinates, inside the image
    cy = (1 - sh) * (2 * u[:, 2] - 1)
    sign = torch.ones(n, dtype=torch.float64)
    if hflip:
        sign = torch.where(_coins(n, generator), -1.0, 1.0).double()
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 0, 2] = sw * sign, cx
    theta[:, 1, 1], theta[:, 1, 2] = sh, cy
    return _resample(x, theta, "reflection")


# -- VDP's CoTTA-style augmentations (strategies/vdp.py) ---------------------------------------


def cotta_view(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    mean: Sequence[float] = (0.0,),
    std: Sequence[float] = (1.0,),
    flip: bool = True,
) -> torch.Tensor:
    """One random augmented copy of a batch normalised with `mean` and `std` (defaults: raw
    [0, 1] pixels), per-sample parameters: in pixel space, brightness 0.6-1.4, contrast
    0.7-1.3, gamma 0.7-1.3, rotation +-15 deg, scale 0.9-1.1, shift 1/16 of the side (border
    padding), optional horizontal flip, Gaussian noise sigma 0.005; then normalised again."""
    n, dev = x.shape[0], x.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(n, generator=generator)).to(dev).view(-1, 1, 1, 1)

    m = torch.tensor(mean, device=dev).view(1, -1, 1, 1)
    s = torch.tensor(std, device=dev).view(1, -1, 1, 1)
    u = (x * s + m).clamp(0, 1)
    u = (u * uniform(0.6, 1.4)).clamp(0, 1)  # brightness
    mu = u.mean(dim=(1, 2, 3), keepdim=True)
    u = ((u - mu) * uniform(0.7, 1.3) + mu).clamp(0, 1)  # contrast
    u = u.clamp_min(1e-6).pow(uniform(0.7, 1.3))  # gamma
    angle = uniform(-15.0, 15.0).view(-1) * math.pi / 180
    scale = uniform(0.9, 1.1).view(-1)
    shift = uniform(-1 / 8, 1 / 8).view(-1, 1), uniform(-1 / 8, 1 / 8).view(-1, 1)  # 1/16 of side
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1
    )  # (n, 2, 2): output -> input coordinates
    theta = torch.cat([theta, torch.cat(shift, 1).unsqueeze(-1)], dim=2)
    u = _resample(u, theta, "border")
    if flip:
        u = _flip_where(u, _coins(n, generator))
    noise = torch.randn(u.shape, generator=generator).to(dev)
    u = (u + 0.005 * noise).clamp(0, 1)
    return (u - m) / s


# -- the registry ------------------------------------------------------------------------------

BATCH_TRANSFORMS: dict[str, BatchTransform] = {
    "none": identity,
    "flip": flip,
    "crop-pad4-flip": crop_pad4_flip,
    "random-resized-crop-flip": random_resized_crop_flip,
    "onpro": onpro_view,
    "cotta": cotta_view,
}


def batch_transform(name: str, **params: Any) -> BatchTransform:
    """The batch transform registered as `name`, with `params` bound: call it as f(x, generator)."""
    try:
        fn = BATCH_TRANSFORMS[name]
    except KeyError:
        raise unknown("batch transform", name, BATCH_TRANSFORMS) from None
    return functools.partial(fn, **params) if params else fn
