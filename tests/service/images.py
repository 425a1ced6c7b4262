"""Real image bytes in every format and colour mode the service must read."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

SIZE = 96


def tile(seed: int = 0, size: tuple[int, int] = (SIZE, SIZE)) -> Image.Image:
    """A smooth RGB test picture (width, height) with a bright diagonal 'road'; smooth so JPEG keeps it."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(40, 120, size=3)
    picture = np.stack([base[c] + 30 * np.sin((x * (c + 1) + y) / 17.0) for c in range(3)], axis=-1)
    road = np.abs(x / width - y / height) < 0.08
    picture[road] = (200, 200, 190)
    return Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8))


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    """``image`` saved as ``fmt`` (Pillow's format name)."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png(image: Image.Image | None = None) -> bytes:
    """PNG bytes (default: ``tile()``)."""
    return encoded(image if image is not None else tile(), "PNG")


def as_array(image: Image.Image) -> np.ndarray:
    """RGB image -> float32 3 x H x W in [0, 1], as the service decodes it (at the model size)."""
    rgb = image.convert("RGB")
    if rgb.size != (SIZE, SIZE):
        rgb = rgb.resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    return (np.asarray(rgb, dtype=np.float32) / 255.0).transpose(2, 0, 1).copy()


def gray16_png(gray8: np.ndarray) -> bytes:
    """A 16-bit grayscale PNG whose values are ``gray8 * 257`` (so 8-bit 255 is 16-bit 65535)."""
    return encoded(Image.fromarray(gray8.astype(np.uint16) * 257), "PNG")


def rgba_png(image: Image.Image, alpha: np.ndarray) -> bytes:
    """``image`` with an alpha channel."""
    rgba = image.convert("RGBA")
    rgba.putalpha(Image.fromarray(alpha.astype(np.uint8)))
    return png(rgba)


def composite_over_black(image: Image.Image, alpha: np.ndarray) -> Image.Image:
    """What compositing ``image`` with ``alpha`` over black should give."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    return Image.fromarray((rgb * (alpha[..., None] / 255.0) + 0.5).astype(np.uint8))


def exif_rotated_jpeg(upright: Image.Image) -> bytes:
    """A JPEG stored rotated, with the EXIF orientation (6: rotate 90 CW to view) that makes it ``upright``."""
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise; viewing turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(stored, "JPEG", quality=95, exif=exif.tobytes())


def cmyk_jpeg(image: Image.Image) -> bytes:
    """A CMYK JPEG of ``image``."""
    return encoded(image.convert("CMYK"), "JPEG", quality=95)


def every_format() -> dict[str, bytes]:
    """The same picture in each accepted container format."""
    picture = tile(3)
    return {
        "png": png(picture),
        "jpeg": encoded(picture, "JPEG", quality=95),
        "cmyk-jpeg": cmyk_jpeg(picture),
        "webp": encoded(picture, "WEBP", lossless=True),
        "bmp": encoded(picture, "BMP"),
        "tiff": encoded(picture, "TIFF"),
        "tiff-deflate": encoded(picture, "TIFF", compression="tiff_adobe_deflate"),
    }
