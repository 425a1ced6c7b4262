"""Request bytes -> a checked, upright, RGB, resized image the model can take.

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
6. Resize to the model's input size with Pillow's bilinear filter (antialiased when shrinking), channels first:
   8-bit RGB (uint8; the engine scales it to [0, 1]), or float32 in [0, 1] for 16-bit and float images so that
   their precision is kept. An image more than three times the model's size is first reduced by
   integer factors to no less than three times that size (JPEG: decoded at 1/2, 1/4 or 1/8 scale; others:
   box-averaged, before any colour conversion, transparent pixels premultiplied first so that the composite
   stays exact), then resized from exactly the reduced picture's box: Pillow's ``reducing_gap=3``. Measured on
   sharp-edged pictures, the result is within 4 of 255 levels of a direct resize, and a 6000 x 6000 upload
   costs a fraction of the conversions and resize it used to. When the upload itself is
   needed (an overlay at the upload's size) nothing is reduced.

How: the common upload, an 8-bit RGB or grayscale PNG or a YCbCr/grayscale JPEG small enough to need no early
reduction, is decoded by libspng or libjpeg-turbo directly (``fast_decode``: exactly Pillow's pixels, without
Pillow's per-chunk Python); everything else through Pillow (``pillow_decode``).

Where it runs: never in the device worker. A request whose images have at most ``inline_max_pixels`` pixels in
all (by their headers: a 96 x 96 tile has 9,216) is decoded on the event loop, because such a decode takes
less time than handing it to a thread and back; anything larger is decoded in the thread pool, in parallel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image

from service.errors import InvalidImage, RoadLensError
from service.pipeline import fast_decode
from service.pipeline.pillow_decode import (
    ACCEPTED_IMAGE_TYPES,
    FORMATS,
    REDUCING_GAP,
    channels_first,
    decode_with_pillow,
    header_size_with_pillow,
)

__all__ = ["ACCEPTED_IMAGE_TYPES", "FORMATS", "DecodedImage", "Decoder", "decode_image", "header_pixels", "header_size"]
UNIT = np.float32(1.0 / 255.0)


@dataclass(frozen=True)
class DecodedImage:
    """One decoded upload.

    ``array``: the model input, RGB, channels first (``3 x H x W``) at the model's input size: uint8 (0-255) for
    8-bit uploads, how it travels to the engine; float32 in [0, 1] for 16-bit and float uploads.
    ``size``: (width, height) of the upright upload, before resizing.
    ``original``: the upright upload as 8-bit RGB, kept only when asked (overlays at the upload's size).
    """

    array: np.ndarray
    size: tuple[int, int]
    original: Image.Image | None
    format: str

    def unit_float(self) -> np.ndarray:
        """The model input as float32 in [0, 1] (``3 x H x W``), whatever type it travels as."""
        return self.array * UNIT if self.array.dtype == np.uint8 else self.array


def decode_image(
    data: bytes, size: tuple[int, int], max_pixels: int, keep_original: bool = False, fast: bool = True
) -> DecodedImage:
    """Decode ``data`` and resize it to ``size`` = (height, width); see the module docstring for the rules.

    Raises ``InvalidImage`` (400), ``PayloadTooLarge`` (413) or ``UnsupportedMediaType`` (415).
    """
    if not data:
        raise InvalidImage("empty image: the upload has no bytes", detail={"bytes": 0})
    quick = _decode_fast(data, size, max_pixels, keep_original) if fast else None
    if quick is not None:
        return quick
    pixels, upright, original, fmt = decode_with_pillow(data, size, max_pixels, keep_original)
    return DecodedImage(pixels, upright, original, fmt)


def _decode_fast(data: bytes, size: tuple[int, int], max_pixels: int, keep_original: bool) -> DecodedImage | None:
    """The common case (``fast_decode``): a PNG or JPEG tile small enough to need no early reduction."""
    dims = fast_decode.header_size(data)
    if dims is None or not 0 < dims[0] * dims[1] <= max_pixels or max(dims) > REDUCING_GAP * max(size):
        return None  # the general path refuses, or reduces, with its own messages
    decoded = fast_decode.decode_rgb(data)
    if decoded is None or decoded[0].shape[:2] != (dims[1], dims[0]):
        return None
    rgb, fmt = decoded
    target = (size[1], size[0])  # Pillow speaks (width, height)
    picture = Image.fromarray(rgb) if keep_original or dims != target else None
    resized = picture.resize(target, Image.Resampling.BILINEAR) if picture is not None and dims != target else None
    array = channels_first(np.asarray(resized) if resized is not None else rgb)
    return DecodedImage(array, dims, picture if keep_original else None, fmt)


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image's header, without decoding; None when the bytes are no image we read."""
    return fast_decode.header_size(data) or header_size_with_pillow(data)


def header_pixels(data: bytes) -> int | None:
    """Width x height from the image's header, without decoding; None when the bytes are no image we read."""
    size = header_size(data)
    return None if size is None else size[0] * size[1]


class Decoder:
    """Decodes many uploads: small ones on the event loop, the rest in parallel on a thread pool.

    ``inline_max_pixels``: the most pixels (all of a request's images together) decoded on the event loop; 0
    sends everything to the pool. ``fast``: use the ``fast_decode`` libraries where they apply. They hold the GIL
    while they decode (Pillow releases it), which costs more than they save when the engine's device thread shares
    the process: measured at concurrency 32 on 2 cores, /predict went 427-433 req/s with them vs 480-504 without
    in one process, and 556-576 vs 500-509 in a front-end process of the multi-process server.
    """

    def __init__(self, executor: Executor, max_pixels: int, inline_max_pixels: int = 0, fast: bool = True) -> None:
        self._executor = executor
        self._max_pixels = max_pixels
        self._inline_max_pixels = inline_max_pixels
        self._fast = fast

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
            return [self._decode_at(i, blob, size, keep_original) for i, blob in enumerate(blobs)]
        loop = asyncio.get_running_loop()
        jobs = [
            loop.run_in_executor(self._executor, partial(self._decode_at, i, blob, size, keep_original))
            for i, blob in enumerate(blobs)
        ]
        return list(await asyncio.gather(*jobs))

    def _decode_at(self, index: int, data: bytes, size: tuple[int, int], keep_original: bool) -> DecodedImage:
        try:
            return decode_image(data, size, self._max_pixels, keep_original, self._fast)
        except RoadLensError as error:
            error.detail.setdefault("index", index)
            raise
