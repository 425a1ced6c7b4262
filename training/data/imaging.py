"""Decoding any image file into a square RGB uint8 array, and masks into bool arrays.

Conversions (documented in ``docs/data.md``):

- EXIF orientation is applied first, so a photo stored sideways is read upright.
- Transparent images (RGBA, LA, palette with a transparent colour) are composited over **black**: black is
  what satellite products use for "no data".
- 16- and 32-bit integer greyscale (``I;16``, ``I``) is assumed to span 0-65535 and is scaled to 0-255;
  float images (``F``) are assumed to span 0-1.
- Everything else (CMYK, L, 1, P, YCbCr, ...) goes through PIL's own conversion to RGB.
- Tiles are resized to ``size`` x ``size`` with PIL's bilinear filter, which widens its support when
  shrinking, so a 256 px tile is antialiased rather than subsampled. Masks use nearest neighbour, so
  they stay binary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

TRANSPARENT_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL image as 8-bit RGB, following the rules in the module docstring."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in TRANSPARENT_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode.startswith("I"):
        wide = np.asarray(image, dtype=np.float64) / 257.0
        return Image.fromarray(np.clip(wide + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    if image.mode == "F":
        unit = np.asarray(image, dtype=np.float64) * 255.0
        return Image.fromarray(np.clip(unit + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def read_rgb(path: Path, size: int) -> NDArray[np.uint8]:
    """The image at ``path`` as uint8 3 x size x size (channels first, like the network's input)."""
    with Image.open(path) as image:
        rgb = to_rgb(ImageOps.exif_transpose(image))
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def read_mask(path: Path, size: int) -> NDArray[np.bool_]:
    """A road mask (any mode; non-zero pixels above half intensity are road) as bool size x size."""
    with Image.open(path) as image:
        grey = ImageOps.exif_transpose(image).convert("L")
    if grey.size != (size, size):
        grey = grey.resize((size, size), Image.Resampling.NEAREST)
    return np.asarray(grey) > 127
