"""The fast decode path gives exactly Pillow's pixels, and leaves everything else to Pillow."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from service.errors import InvalidImage
from service.pipeline import fast_decode
from service.pipeline.decode import decode_image
from service.pipeline.pillow_decode import decode_with_pillow
from tests.service.conftest import app_for, make_settings

RNG = np.random.default_rng(7)
NOISE = RNG.integers(0, 256, (64, 80, 3), dtype=np.uint8)
SMOOTH = np.stack([*np.meshgrid(np.linspace(0, 255, 80), np.linspace(0, 255, 64)), np.full((64, 80), 90.0)], 2)


def encoded(array: np.ndarray, fmt: str, mode: str | None = None, **options: Any) -> bytes:
    image = Image.fromarray(array.astype(np.uint8))
    if mode is not None:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


TAKEN = {
    "png rgb": encoded(NOISE, "PNG"),
    "png rgb smooth": encoded(SMOOTH, "PNG", optimize=True),
    "png gray": encoded(NOISE, "PNG", "L"),
    "png interlaced": encoded(SMOOTH, "PNG", interlace=1),
    "jpeg 4:2:0": encoded(SMOOTH, "JPEG", quality=90),
    "jpeg 4:4:4": encoded(NOISE, "JPEG", quality=95, subsampling=0),
    "jpeg progressive": encoded(SMOOTH, "JPEG", quality=80, progressive=True),
    "jpeg gray": encoded(SMOOTH, "JPEG", "L", quality=90),
}


@pytest.mark.parametrize("name", list(TAKEN))
def test_the_fast_path_gives_pillows_pixels(name: str) -> None:
    data = TAKEN[name]
    fast = fast_decode.decode_rgb(data)
    assert fast is not None, name
    pillow, upright, _, fmt = decode_with_pillow(data, (64, 80), 10**8, keep_original=False)
    np.testing.assert_array_equal(fast[0].transpose(2, 0, 1), pillow)
    assert fast[1] == fmt and fast_decode.header_size(data) == upright == (80, 64)
    for size in ((64, 80), (96, 96), (32, 40)):  # as served: same size, enlarged, shrunk
        np.testing.assert_array_equal(
            decode_image(data, size, 10**8).array, decode_with_pillow(data, size, 10**8, keep_original=False)[0]
        )


def exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(SMOOTH, "JPEG", exif=exif.tobytes())


def with_transparency() -> bytes:
    image = Image.fromarray(NOISE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=(1, 2, 3))
    return buffer.getvalue()


LEFT = {
    "png rgba": lambda: encoded(NOISE, "PNG", "RGBA"),
    "png palette": lambda: encoded(NOISE, "PNG", "P"),
    "png 16-bit": lambda: encoded((NOISE[:, :, 0].astype(np.uint16) * 257), "PNG", "I;16"),
    "png with transparency": with_transparency,
    "jpeg cmyk": lambda: encoded(SMOOTH, "JPEG", "CMYK"),
    "jpeg with exif orientation": exif_rotated,
    "webp": lambda: encoded(SMOOTH, "WEBP"),
}


@pytest.mark.parametrize("name", list(LEFT))
def test_everything_else_is_left_to_pillow(name: str) -> None:
    data = LEFT[name]()
    assert fast_decode.decode_rgb(data) is None
    decoded = decode_image(data, (96, 96), 10**8)  # and the general path reads it
    assert decoded.array.shape == (3, 96, 96)


def test_a_broken_file_gets_the_general_paths_error() -> None:
    data = TAKEN["png rgb"]
    truncated = data[: len(data) // 2]
    assert fast_decode.decode_rgb(truncated) is None
    with pytest.raises(InvalidImage, match="truncated or corrupt PNG"):
        decode_image(truncated, (96, 96), 10**8)


async def test_only_a_process_without_the_engine_uses_the_fast_decoders(
    model_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # They hold the GIL, which the engine's device thread needs (service/pipeline/decode.py, Decoder).
    used: list[bytes] = []
    original = fast_decode.decode_rgb

    def counted(data: bytes) -> tuple[np.ndarray, str] | None:
        used.append(data)
        return original(data)

    monkeypatch.setattr(fast_decode, "decode_rgb", counted)
    settings = make_settings(model_store)
    for mode, expected in (("local", 0), ("socket", 1)):
        app = app_for(settings, mode)
        async with app.router.lifespan_context(app):
            await app.state.services.decoder.decode_all([TAKEN["png rgb"]], (96, 96))
        assert len(used) == expected, mode
