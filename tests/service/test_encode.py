"""The hand-written grayscale PNG writer: every reader must get back exactly the bytes that went in."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from service.pipeline.encode import PNG_SIGNATURE, gray_png, mask_png, png_bytes, to_uint8


def read_back(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()  # checks every chunk's CRC and the zlib stream
    return image


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (96, 96), (37, 250)])
def test_pillow_reads_back_the_same_pixels(shape: tuple[int, int]) -> None:
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, size=shape, dtype=np.uint8)
    image = read_back(gray_png(pixels))
    assert image.format == "PNG" and image.mode == "L" and image.size == (shape[1], shape[0])
    assert np.array_equal(np.asarray(image), pixels)


def test_extremes_wrap_around_modulo_256() -> None:
    pixels = np.tile(np.array([[0], [255], [0], [1], [254]], dtype=np.uint8), (1, 9))  # every row minus the one above
    assert np.array_equal(np.asarray(read_back(gray_png(pixels))), pixels)


def test_the_layout_is_signature_then_ihdr_idat_iend() -> None:
    data = gray_png(np.full((4, 3), 128, dtype=np.uint8))
    assert data.startswith(PNG_SIGNATURE)
    kinds, offset = [], len(PNG_SIGNATURE)
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        assert int.from_bytes(data[offset + 8 + length : offset + 12 + length], "big") == zlib.crc32(kind + body)
        kinds.append(kind)
        offset += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


def test_a_mask_decodes_like_pillows_encoding_at_about_its_size() -> None:
    rows, cols = np.mgrid[0:96, 0:96]
    mask = np.clip(np.sin(rows / 9.0) * np.cos(cols / 13.0) * 0.5 + 0.5, 0.0, 1.0).astype(np.float32)
    ours, pillows = mask_png(mask), png_bytes(Image.fromarray(to_uint8(mask)))
    assert np.array_equal(np.asarray(read_back(ours)), np.asarray(read_back(pillows)))
    assert len(ours) <= 1.1 * len(pillows)


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.float32), np.zeros((0, 4), np.uint8)]
)
def test_refuses_what_is_not_a_grayscale_byte_image(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="H x W uint8"):
        gray_png(bad)
