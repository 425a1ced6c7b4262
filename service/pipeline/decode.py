"""Request bytes -> a checked, upright, RGB, resized float32 image the model can take.

Rules, in order (the API documentation repeats them):

1. Empty bytes are refused (400). The format is sniffed from the bytes, never taken from a file name or
   header: PNG, JPEG (and its MPO variant), WebP, BMP and TIFF are read; any other image format is a 415
   (the formats Pillow knows, and SVG, HEIC/HEIF and AVIF recognised from their first bytes).
2. The pixel count from the header is checked against the limit *before* any pixel is decoded (413):
   the guard against decompression bombs. A truncated or corrupt file is a 400.
3. Multi-frame files (animated WebP, multi-page TIFF) give their first frame.
4. EXIF orientation is applied, so the model sees the picture upright.
5. Colour: every mode becomes RGB. Transparent images (RGBA, LA, palette with transparency) are composited
   over black. 16-bit and 32-bit integer images are scaled by 1/65535 (values above 65535 clip), 32-bit
   float images are taken as [0, 1] and clipped; grayscale is repeated over the three channels. CMYK and
   YCbCr use Pillow's conversion.
6. Resize to the model's input size with Pillow's bilinear filter (antialiased when shrinking), then scale to
   float32 in [0, 1], channels first. An image more than three times the model's size is first reduced by
   integer factors to no less than three times that size (JPEG: decoded at 1/2, 1/4 or 1/8 scale; others:
   box-averaged, before any colour conversion, transparent pixels premultiplied first so that the composite
   stays exact), then resized from exactly the reduced picture's box: Pillow's ``reducing_gap=3``. Measured on
   sharp-edged pictures, the result is within 4 of 255 levels of a direct resize, and a 6000 x 6000 upload
   costs a fraction of the conversions and resize it used to. When the upload itself is
   needed (an overlay at the upload's size) nothing is reduced.

Where it runs: never in the device worker. A request whose images have at most ``inline_max_pixels`` pixels in
all (by their headers: a 96 x 96 tile has 9,216) is decoded on the event loop, because such a decode takes
less time than handing it to a thread and back; anything larger is decoded in the thread pool, in parallel.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image

from service.errors import InvalidImage, PayloadTooLarge, RoadLensError, UnsupportedMediaType

# Pillow's format names; its JPEG reader also opens MPO, the multi-picture JPEG that many cameras write.
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF")
ACCEPTED_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff")
HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
PREMULTIPLIED_MODES = ("RGBa", "La")
# Modes Pillow's reduce() averages correctly: 8-bit bands (premultiplied alpha included) and 32-bit single bands.
REDUCIBLE_MODES = ("L", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "I", "F", *PREMULTIPLIED_MODES)
REDUCING_GAP = 3
EXIF_ORIENTATION = 0x0112
# EXIF orientation -> the transposition that makes the picture upright (as ImageOps.exif_transpose).
ORIENTATIONS: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
TRANSPOSING = (5, 6, 7, 8)  # orientations that swap width and height
Box = tuple[float, float, float, float]  # (left, top, right, bottom) in pixels, as Pillow's resize takes it


@dataclass(frozen=True)
class DecodedImage:
    """One decoded upload.

    ``array``: float32 3 x H x W RGB in [0, 1] at the model's input size.
    ``size``: (width, height) of the upright upload, before resizing.
    ``original``: the upright upload as 8-bit RGB, kept only when asked (overlays at the upload's size).
    """

    array: np.ndarray
    size: tuple[int, int]
    original: Image.Image | None
    format: str


def decode_image(data: bytes, size: tuple[int, int], max_pixels: int, keep_original: bool = False) -> DecodedImage:
    """Decode ``data`` and resize it to ``size`` = (height, width); see the module docstring for the rules.

    Raises ``InvalidImage`` (400), ``PayloadTooLarge`` (413) or ``UnsupportedMediaType`` (415).
    """
    if not data:
        raise InvalidImage("empty image: the upload has no bytes", detail={"bytes": 0})
    image = _open(data, max_pixels)
    fmt = str(image.format)  # a transposed copy no longer knows its format
    header_size = image.size
    try:
        orientation = _orientation(image)
        box = _draft(image, size) if not keep_original else _whole(image)
        image.load()
        if not keep_original:
            image, box = _reduce(image, size, box)
        image, box = _upright(image, orientation, box)
    except Exception as error:  # Pillow raises many types on hostile input; all of them are the client's bytes
        raise InvalidImage(f"truncated or corrupt {fmt} image: {error}", detail={"format": fmt}) from None
    try:
        pixels = _to_float_rgb(image, size, box)
        original = _to_rgb8(image) if keep_original else None
    except Exception as error:  # e.g. a LAB TIFF: Pillow has no conversion to RGB for it
        raise UnsupportedMediaType(
            f"cannot convert a {image.mode} {fmt} image to RGB: {error}", detail={"mode": image.mode, "format": fmt}
        ) from None
    upright_size = header_size[::-1] if orientation in TRANSPOSING else header_size
    return DecodedImage(pixels, (upright_size[0], upright_size[1]), original, fmt)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Identify the format and check the pixel count from the header alone."""
    Image.init()  # registers every plugin (once); Image.open with ``formats`` would not load WebP or TIFF itself
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:
        raise _too_many_pixels(None, max_pixels) from None
    except Exception:
        raise _unidentified(data) from None
    width, height = image.size
    if width * height > max_pixels:
        raise _too_many_pixels((width, height), max_pixels)
    if width < 1 or height < 1:
        raise InvalidImage("image has no pixels", detail={"width": width, "height": height})
    return image


def _too_many_pixels(size: tuple[int, int] | None, max_pixels: int) -> PayloadTooLarge:
    found = f"{size[0]}x{size[1]} = {size[0] * size[1]} pixels" if size else "far more pixels than allowed"
    detail: dict[str, object] = {"limit_pixels": max_pixels, "setting": "ROADLENS_MAX_IMAGE_PIXELS"}
    if size:
        detail.update(width=size[0], height=size[1], pixels=size[0] * size[1])
    return PayloadTooLarge(f"image is {found}; the limit is {max_pixels} pixels", detail=detail)


# Image formats Pillow cannot open, recognised from their first bytes so that they get a 415 naming them.
HEIF_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"heim": "HEIC", b"heis": "HEIC", b"hevc": "HEIC", b"hevx": "HEIC",
               b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF"}  # fmt: skip
SVG_START = re.compile(
    rb"^(\xef\xbb\xbf)?\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<svg[\s>]", re.S | re.I
)
SNIFFED_BYTES = 4096


def _sniffed_format(data: bytes) -> str | None:
    """SVG, HEIC/HEIF or AVIF from the first bytes; None for anything else."""
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        return HEIF_BRANDS[data[8:12]]
    if SVG_START.match(data[:SNIFFED_BYTES]):
        return "SVG"
    return None


def _unidentified(data: bytes) -> RoadLensError:
    """415 for an image in a format we do not read, 400 for bytes that are no image at all."""
    accepted = {"accepted_formats": list(FORMATS), "accepted_types": list(ACCEPTED_IMAGE_TYPES)}
    try:
        other = Image.open(io.BytesIO(data))  # header only, just to name the format
    except Image.DecompressionBombError:
        return UnsupportedMediaType("unsupported image format", detail=accepted)
    except Exception:
        sniffed = _sniffed_format(data)
        if sniffed is None:
            return InvalidImage("not an image: cannot identify the image format", detail=accepted)
        return UnsupportedMediaType(
            f"{sniffed} images are not supported; send PNG, JPEG, WebP, BMP or TIFF",
            detail={"format": sniffed, **accepted},
        )
    fmt = other.format or "unknown"
    return UnsupportedMediaType(
        f"{fmt} images are not supported; send PNG, JPEG, WebP, BMP or TIFF", detail={"format": fmt, **accepted}
    )


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1: upright), read before any reduced copy loses the image's metadata."""
    value = image.getexif().get(EXIF_ORIENTATION, 1)
    return value if isinstance(value, int) and value in ORIENTATIONS else 1


def _whole(image: Image.Image) -> Box:
    return (0.0, 0.0, float(image.size[0]), float(image.size[1]))


def _draft(image: Image.Image, size: tuple[int, int]) -> Box:
    """Ask a JPEG for a smaller scale before it is decoded (other formats ignore it); the picture's box after."""
    drafted = image.draft(None, _reduced_target(size))
    return drafted[1] if drafted is not None else _whole(image)


def _reduced_target(size: tuple[int, int]) -> tuple[int, int]:
    """The least size a reduced image keeps on each side: the model's larger side (either orientation) x the gap."""
    side = REDUCING_GAP * max(size)
    return side, side


def _reduce(image: Image.Image, size: tuple[int, int], box: Box) -> tuple[Image.Image, Box]:
    """``image`` box-reduced by the largest integer factors that keep it at least ``_reduced_target``.

    Also returns where the picture lies in the result: a side that the factor does not divide ends in a partial
    pixel, and resizing the whole reduced image would shift the picture by a fraction of a pixel (visible on
    sharp edges), so the final resize reads exactly the box (as Pillow's ``reducing_gap`` does).
    """
    side = _reduced_target(size)[0]
    factors = (max(1, int((box[2] - box[0]) / side)), max(1, int((box[3] - box[1]) / side)))
    if factors == (1, 1):
        return image, box
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        image = _premultiplied(image)  # averaging straight alpha would bleed the colour of transparent pixels
    elif image.mode == "P":
        image = image.convert("RGB")  # averaging palette indices means nothing
    if image.mode not in REDUCIBLE_MODES:  # bilevel and 16-bit images: left to the resize
        return image, box
    reduced = (box[0] / factors[0], box[1] / factors[1], box[2] / factors[0], box[3] / factors[1])
    return image.reduce(factors), reduced


def _upright(image: Image.Image, orientation: int, box: Box) -> tuple[Image.Image, Box]:
    """The image turned as its EXIF orientation says, and the picture's box turned with it."""
    method = ORIENTATIONS[orientation]
    if method is None:
        return image, box
    width, height = image.size
    x0, y0, x1, y1 = box
    turned = {
        Image.Transpose.FLIP_LEFT_RIGHT: (width - x1, y0, width - x0, y1),
        Image.Transpose.FLIP_TOP_BOTTOM: (x0, height - y1, x1, height - y0),
        Image.Transpose.ROTATE_180: (width - x1, height - y1, width - x0, height - y0),
        Image.Transpose.TRANSPOSE: (y0, x0, y1, x1),
        Image.Transpose.ROTATE_90: (y0, width - x1, y1, width - x0),
        Image.Transpose.ROTATE_270: (height - y1, x0, height - y0, x1),
        Image.Transpose.TRANSVERSE: (height - y1, width - x1, height - y0, width - x0),
    }[method]
    return image.transpose(method), turned


def _premultiplied(image: Image.Image) -> Image.Image:
    """An image with transparency as RGBa / La: colour already multiplied by alpha, i.e. composited over black."""
    if image.mode in PREMULTIPLIED_MODES:
        return image
    if image.mode == "LA":
        return image.convert("La")
    return (image if image.mode == "RGBA" else image.convert("RGBA")).convert("RGBa")


def _to_float_rgb(image: Image.Image, size: tuple[int, int], box: Box) -> np.ndarray:
    """float32 3 x H x W in [0, 1] at ``size`` = (height, width), from the picture inside ``box``."""
    target = (size[1], size[0])  # Pillow speaks (width, height)
    whole = box == _whole(image)
    if image.mode in HIGH_DEPTH_MODES:
        channel = Image.fromarray(_unit_range(image))
        if channel.size != target or not whole:
            channel = channel.resize(target, Image.Resampling.BILINEAR, box=box)
        gray = np.asarray(channel, dtype=np.float32)
        return np.ascontiguousarray(np.broadcast_to(gray, (3, *gray.shape)))
    rgb = _to_rgb8(image)
    if rgb.size != target or not whole:
        rgb = rgb.resize(target, Image.Resampling.BILINEAR, box=box)
    array = np.asarray(rgb, dtype=np.float32) * (1.0 / 255.0)
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def _unit_range(image: Image.Image) -> np.ndarray:
    """A single-channel high-depth image as float32 in [0, 1]."""
    values = np.asarray(image).astype(np.float32)
    if image.mode != "F":
        values /= 65535.0
    return np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)


def _to_rgb8(image: Image.Image) -> Image.Image:
    """8-bit RGB; transparency composited over black."""
    if image.mode in HIGH_DEPTH_MODES:
        return Image.fromarray((_unit_range(image) * 255.0 + 0.5).astype(np.uint8)).convert("RGB")
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        image = _premultiplied(image)  # premultiplied colour is exactly the composite over black
    if image.mode == "RGBa":
        return Image.merge("RGB", image.split()[:3])
    if image.mode == "La":
        return image.getchannel(0).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image's header, without decoding; None when the bytes are no image we read."""
    Image.init()
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            width, height = image.size
    except Exception:  # the decode proper reports it, with the right status
        return None
    return width, height


def header_pixels(data: bytes) -> int | None:
    """Width x height from the image's header, without decoding; None when the bytes are no image we read."""
    size = header_size(data)
    return None if size is None else size[0] * size[1]


class Decoder:
    """Decodes many uploads: small ones on the event loop, the rest in parallel on a thread pool.

    ``inline_max_pixels``: the most pixels (all of a request's images together) decoded on the event loop; 0
    sends everything to the pool.
    """

    def __init__(self, executor: Executor, max_pixels: int, inline_max_pixels: int = 0) -> None:
        self._executor = executor
        self._max_pixels = max_pixels
        self._inline_max_pixels = inline_max_pixels

    def decodes_inline(self, blobs: Sequence[bytes]) -> bool:
        """True when ``blobs`` are small enough, by their headers, to decode on the event loop."""
        if not self._inline_max_pixels:
            return False
        total = 0
        for blob in blobs:
            pixels = header_pixels(blob)
            if pixels is None:
                return False
            total += pixels
            if total > self._inline_max_pixels:
                return False
        return True

    async def decode_all(
        self, blobs: Sequence[bytes], size: tuple[int, int], keep_original: bool = False
    ) -> list[DecodedImage]:
        """Decode every blob at ``size`` = (height, width); an error names the index of the image at fault."""
        if self.decodes_inline(blobs):
            return [_decode_at(i, blob, size, self._max_pixels, keep_original) for i, blob in enumerate(blobs)]
        loop = asyncio.get_running_loop()
        jobs = [
            loop.run_in_executor(self._executor, partial(_decode_at, i, blob, size, self._max_pixels, keep_original))
            for i, blob in enumerate(blobs)
        ]
        return list(await asyncio.gather(*jobs))


def _decode_at(index: int, data: bytes, size: tuple[int, int], max_pixels: int, keep_original: bool) -> DecodedImage:
    try:
        return decode_image(data, size, max_pixels, keep_original)
    except RoadLensError as error:
        error.detail.setdefault("index", index)
        raise
