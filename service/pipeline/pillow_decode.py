"""The general decode, through Pillow: any format and mode the service reads, with the header checked first, the
picture reduced early when it is large, turned upright, and converted to RGB (see ``decode`` for the rules).
"""

from __future__ import annotations

import io
import re

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


def decode_with_pillow(
    data: bytes, size: tuple[int, int], max_pixels: int, keep_original: bool
) -> tuple[np.ndarray, tuple[int, int], Image.Image | None, str]:
    """The model input (uint8 ``3 x H x W``, or float32 in [0, 1] for 16-bit and float images), the upright
    upload's (width, height), the upright upload as 8-bit RGB when ``keep_original``, and the format."""
    image = _open(data, max_pixels)
    fmt = str(image.format)  # a transposed copy no longer knows its format
    header = image.size
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
        pixels = _model_input(image, size, box)
        original = _to_rgb8(image) if keep_original else None
    except Exception as error:  # e.g. a LAB TIFF: Pillow has no conversion to RGB for it
        raise UnsupportedMediaType(
            f"cannot convert a {image.mode} {fmt} image to RGB: {error}", detail={"mode": image.mode, "format": fmt}
        ) from None
    upright = header[::-1] if orientation in TRANSPOSING else header
    return pixels, (upright[0], upright[1]), original, fmt


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Identify the format and check the pixel count from the header alone."""
    Image.init()  # registers every plugin (once); Image.open with ``formats`` would not load WebP or TIFF itself
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:
        raise too_many_pixels(None, max_pixels) from None
    except Exception:
        raise _unidentified(data) from None
    width, height = image.size
    if width * height > max_pixels:
        raise too_many_pixels((width, height), max_pixels)
    if width < 1 or height < 1:
        raise InvalidImage("image has no pixels", detail={"width": width, "height": height})
    return image


def too_many_pixels(size: tuple[int, int] | None, max_pixels: int) -> PayloadTooLarge:
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


def _model_input(image: Image.Image, size: tuple[int, int], box: Box) -> np.ndarray:
    """The picture inside ``box`` at ``size`` = (height, width), channels first: uint8 for 8-bit pictures,
    float32 in [0, 1] for 16-bit and float ones (their precision kept)."""
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
    return channels_first(np.asarray(rgb))


def channels_first(rgb: np.ndarray) -> np.ndarray:
    """``H x W x 3`` -> a contiguous ``3 x H x W``."""
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


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


def header_size_with_pillow(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image's header, without decoding; None when the bytes are no image we read."""
    Image.init()
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            width, height = image.size
    except Exception:  # the decode proper reports it, with the right status
        return None
    return width, height
