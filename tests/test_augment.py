"""The batch augmentations of clbench/augment.py: what each does, and its exact random draws
(the committed records depend on them)."""

from __future__ import annotations

import math

import pytest
import torch

from clbench.augment import (
    BATCH_TRANSFORMS,
    batch_transform,
    cotta_view,
    crop_pad4_flip,
    crop_size,
    onpro_view,
)
from clbench.errors import ClbenchError

# -- the random draws: each transform consumes exactly these, in this order -------------------


def _draws(name: str, n: int, g: torch.Generator, shape: tuple[int, ...]) -> None:
    """The reference sequence of draws of each registered transform (default params)."""
    if name == "flip":
        torch.rand(n, generator=g)
    elif name == "crop-pad4-flip":
        torch.randint(0, 9, (n,), generator=g)
        torch.randint(0, 9, (n,), generator=g)
        torch.rand(n, generator=g)
    elif name == "random-resized-crop-flip":
        torch.rand(n, 4, 4, generator=g)
        torch.rand(n, generator=g)
    elif name == "onpro":
        torch.rand(n, 3, generator=g, dtype=torch.float64)
        torch.rand(n, 20, generator=g, dtype=torch.float64)
        torch.rand(n, generator=g)  # hflip
    elif name == "cotta":
        for _ in range(8):  # brightness, contrast, gamma, angle, scale, 2 shifts, flip
            torch.rand(n, generator=g)
        torch.randn(shape, generator=g)
    else:
        assert name == "none"


@pytest.mark.parametrize("name", sorted(BATCH_TRANSFORMS))
def test_each_transform_consumes_its_reference_draws(name):
    x = torch.rand(5, 3, 12, 12)
    g, ref = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    out = batch_transform(name)(x, g)
    _draws(name, 5, ref, tuple(x.shape))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(g.get_state(), ref.get_state())


def test_flip_mirrors_where_its_draw_is_below_half():
    x = torch.randn(16, 2, 3, 5)
    hit = torch.rand(16, generator=torch.Generator().manual_seed(0)) < 0.5
    out = batch_transform("flip")(x, torch.Generator().manual_seed(0))
    assert torch.equal(out, torch.where(hit.view(-1, 1, 1, 1), x.flip(3), x))


def test_no_generator_uses_the_global_one():
    x = torch.randn(4, 3, 10, 10)
    for name in BATCH_TRANSFORMS:
        torch.manual_seed(5)
        a = batch_transform(name)(x, None)
        torch.manual_seed(5)
        assert torch.equal(a, batch_transform(name)(x))


def test_batch_transform_binds_params_and_names_unknown_ones():
    x = torch.randn(4, 1, 8, 8)
    bound = batch_transform("onpro", scale=(0.6, 1.0), hflip=False, gray_p=0.0)
    a = bound(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, onpro_view(x, torch.Generator().manual_seed(2), (0.6, 1.0), False, 0.0))
    assert batch_transform("none") is BATCH_TRANSFORMS["none"]
    with pytest.raises(ClbenchError, match="unknown batch transform"):
        batch_transform("crop")


# -- the scenarios' transforms ------------------------------------------------------------------


def test_crop_pad4_flip_takes_shifted_windows():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8) + 1
    out = crop_pad4_flip(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(2):
        windows = [padded[i, :, dy : dy + 8, dx : dx + 8] for dy in range(9) for dx in range(9)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(2)) for w in windows)


def test_random_resized_crop_flip_keeps_shape_and_is_seeded():
    f = batch_transform("random-resized-crop-flip")
    x = torch.randn(3, 3, 20, 20)
    a = f(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, f(x, torch.Generator().manual_seed(1)))


# -- OnPro's view -------------------------------------------------------------------------------


def test_onpro_view_identity_crop_and_determinism():
    x = torch.randn(5, 1, 6, 6)
    same = onpro_view(x, torch.Generator().manual_seed(0), (1.0, 1.0), False, 0.0)
    # full-area crop with aspect 1 only when the ratio draw is 1: check the crop is in range
    assert same.shape == x.shape
    whole = onpro_view(x, torch.Generator().manual_seed(0), (1.0, 1.0), False, 0.0)
    assert torch.equal(same, whole)  # same generator state, same views
    other = onpro_view(x, torch.Generator().manual_seed(1), (0.3, 1.0), True, 0.0)
    assert not torch.equal(other, same)


def test_onpro_view_full_square_crop_is_identity_or_flip():
    # a square image, area 1 and aspect clamped to at most 1 per side: the whole image
    x = torch.randn(8, 3, 4, 4)
    g = torch.Generator().manual_seed(0)
    out = onpro_view(x, g, (1.0, 1.0), True, 0.0)
    for i in range(8):
        # aspect != 1 shrinks one side below 1, so check only images left unchanged or flipped
        if torch.allclose(out[i], x[i], atol=1e-5) or torch.allclose(
            out[i], x[i].flip(2), atol=1e-5
        ):
            continue
        assert out[i].abs().max() <= x[i].abs().max() + 1e-5  # an interpolated crop


def test_onpro_view_grayscale_channels_equal():
    x = torch.randn(6, 3, 4, 4)
    out = onpro_view(x, torch.Generator().manual_seed(0), (1.0, 1.0), False, 1.0)
    assert torch.allclose(out[:, 0], out[:, 1]) and torch.allclose(out[:, 1], out[:, 2])


def test_crop_size_takes_first_fitting_trial_else_whole_image():
    # trials: (area, ratio) -> (w, h) = (sqrt(a r), sqrt(a / r))
    area = torch.tensor(
        [[1.0, 0.36, 0.25], [0.64, 0.49, 0.25], [1.0, 1.0, 0.9]], dtype=torch.float64
    )
    ratio = torch.tensor([[4 / 3, 1.0, 1.0], [1.0, 1.0, 1.0], [4 / 3, 3 / 4, 4 / 3]])
    w, h = crop_size(area, ratio.double())
    # row 0: trial 0 is 1.155 wide (rejected), trial 1 fits: 0.6 x 0.6
    # row 1: trial 0 fits: 0.8 x 0.8; row 2: no trial fits: the whole image
    assert w.tolist() == pytest.approx([0.6, 0.8, 1.0])
    assert h.tolist() == pytest.approx([0.6, 0.8, 1.0])


def test_crop_size_never_exceeds_the_image():
    g = torch.Generator().manual_seed(0)
    area = 0.3 + 0.7 * torch.rand(500, 10, generator=g, dtype=torch.float64)
    ratio = (math.log(3 / 4) + math.log(16 / 9) * torch.rand(500, 10, generator=g)).exp()
    w, h = crop_size(area, ratio.double())
    assert bool((w <= 1).all() and (h <= 1).all() and (w * h >= 0.3 - 1e-9).all())


# -- VDP's CoTTA-style view ---------------------------------------------------------------------


def test_cotta_view_without_flip_skips_the_flip_draw():
    x = torch.rand(6, 3, 8, 8)
    g, ref = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    out = cotta_view(x, g, [0.4, 0.5, 0.6], [0.2, 0.25, 0.3], flip=False)
    for _ in range(7):  # brightness, contrast, gamma, angle, scale, 2 shifts
        torch.rand(6, generator=ref)
    torch.randn(x.shape, generator=ref)
    assert out.shape == x.shape and torch.equal(g.get_state(), ref.get_state())
