"""Omniglot in torchvision's on-disk layout, read one character at a time.

Files: `<data.root>/omniglot-py/images_background/<alphabet>/<character>/*.png` (105x105
greyscale drawings, 20 per character, 964 characters): what
`torchvision.datasets.Omniglot(root, background=True, download=True)` writes. Pixels are kept
as the files have them (white background = 1, black strokes = 0), scaled to [0, 1], and
resized to `size` x `size` with bilinear filtering (the CFSL code's Resize(28) + ToTensor).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from clbench.datasets import locate
from clbench.errors import ClbenchError, DataNotFoundError

BACKGROUND = "images_background"


def characters(root: str | Path) -> list[Path]:
    """The character folders of the background set, sorted by alphabet, then character."""
    folder = locate("omniglot", root) / BACKGROUND
    found = sorted(c for a in folder.iterdir() if a.is_dir() for c in a.iterdir() if c.is_dir())
    if not found:
        raise DataNotFoundError(
            f"Omniglot not found: {folder} holds no <alphabet>/<character>/ folders "
            "(`clbench data` shows the layout and where to get it)"
        )
    return found


def drawings(character: Path) -> list[Path]:
    """The drawings of one character, sorted by file name."""
    return sorted(character.glob("*.png"))


def read_drawings(paths: list[Path], size: int) -> torch.Tensor:
    """PNG files as float32 (N, 1, size, size) images in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    out = torch.empty((len(paths), 1, size, size), dtype=torch.float32)
    for i, p in enumerate(paths):
        try:
            with Image.open(p) as im:
                arr = np.asarray(im.convert("L").resize((size, size), Image.BILINEAR))
        except (UnidentifiedImageError, OSError) as e:
            raise ClbenchError(f"cannot read image {p}: {e}") from None
        out[i, 0] = torch.from_numpy(arr.astype(np.float32) / 255.0)
    return out
