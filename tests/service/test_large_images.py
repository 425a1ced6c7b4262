"""Large uploads: reduced before the costly steps (the picture of a direct resize, within the few levels that
Pillow's own two-step resize differs by), and outputs at the upload's size bounded by ROADLENS_MAX_OUTPUT_PIXELS."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from service.pipeline.decode import decode_image
from service.pipeline.encode import rgb_png
from tests.service import images
from tests.service.conftest import assert_error, make_settings, serve

MODEL_SIZE = (96, 96)


def direct(picture: Image.Image) -> np.ndarray:
    """The model input by a plain bilinear resize of the whole picture."""
    return images.as_array(picture)


def big_tile(size: tuple[int, int]) -> Image.Image:
    return images.tile(3, size=(size[0] // 10, size[1] // 10)).resize(size, Image.Resampling.BICUBIC)


def test_a_large_png_is_reduced_first_with_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    factors = []
    reduce = Image.Image.reduce

    def spy(self: Image.Image, factor: int | tuple[int, int], box: Any = None) -> Image.Image:
        factors.append(factor)
        return reduce(self, factor, box)

    monkeypatch.setattr(Image.Image, "reduce", spy)
    picture = big_tile((2000, 1500))
    decoded = decode_image(images.png(picture), MODEL_SIZE, 40_000_000)
    assert factors == [(6, 5)]  # to 333 x 300: at least three times 96 on each side
    assert decoded.size == (2000, 1500)
    np.testing.assert_allclose(decoded.unit_float(), direct(picture), atol=4 / 255)


def test_a_large_jpeg_is_decoded_at_a_smaller_scale() -> None:
    picture = big_tile((2400, 1600))
    data = images.encoded(picture, "JPEG", quality=95)
    drafted = Image.open(io.BytesIO(data)).draft(None, (288, 288))
    assert drafted is not None and drafted[1] == (0, 0, 600, 400)  # what decode_image asks for: 1/4 scale
    decoded = decode_image(data, MODEL_SIZE, 40_000_000)
    assert decoded.size == (2400, 1600)  # the upload's size, not the scale it was decoded at
    full = Image.open(io.BytesIO(data))
    # DCT scaling is not quite a box average
    np.testing.assert_allclose(decoded.unit_float(), direct(full), atol=5 / 255)


def test_large_transparent_images_are_composited_exactly_after_reducing() -> None:
    picture = big_tile((1600, 1600))
    alpha = np.zeros((1600, 1600), dtype=np.uint8)
    alpha[:, 800:] = 255  # the left half is transparent, its colour must not bleed into the right half
    rgba = picture.convert("RGBA")
    rgba.putalpha(Image.fromarray(alpha))
    decoded = decode_image(images.png(rgba), MODEL_SIZE, 40_000_000)
    np.testing.assert_allclose(decoded.unit_float(), direct(images.composite_over_black(picture, alpha)), atol=2 / 255)


def test_exif_rotation_is_kept_when_reducing() -> None:
    picture = big_tile((1210, 810))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    decoded = decode_image(images.encoded(picture, "JPEG", quality=95, exif=exif), MODEL_SIZE, 40_000_000)
    assert decoded.size == (810, 1210)
    expected = direct(picture.transpose(Image.Transpose.ROTATE_270))
    np.testing.assert_allclose(decoded.unit_float(), expected, atol=5 / 255)


def test_rgb_png_is_a_standard_png() -> None:
    pixels = np.asarray(images.tile(1, size=(37, 23)))
    data = rgb_png(pixels)
    back = Image.open(io.BytesIO(data))
    assert back.mode == "RGB" and back.size == (37, 23)
    np.testing.assert_array_equal(np.asarray(back), pixels)


async def test_outputs_at_the_upload_size_are_bounded(model_store: Path) -> None:
    data = images.png(images.tile(2, size=(160, 120)))
    async with serve(make_settings(model_store, max_output_pixels=160 * 119)) as client:
        for path in ("/visualbackprop?overlay=true&size=input", "/visualbackprop?size=input&format=npy",
                     "/explain/saliency?size=input", "/explain/gradcam?overlay=true&size=input"):  # fmt: skip
            response = await client.post(path, content=data, headers={"content-type": "image/png"})
            error = assert_error(response, 422, "invalid_parameter")
            assert error["detail"]["setting"] == "ROADLENS_MAX_OUTPUT_PIXELS"
            assert error["detail"]["limit_pixels"] == 160 * 119 and error["detail"]["pixels"] == 160 * 120
            assert "size=model" in error["message"]
        for path in ("/visualbackprop?overlay=true", "/explain/saliency?size=model"):
            response = await client.post(path, content=data, headers={"content-type": "image/png"})
            assert response.status_code == 200, response.text
    async with serve(make_settings(model_store, max_output_pixels=160 * 120)) as client:
        response = await client.post("/visualbackprop?overlay=true&size=input", content=data,
                                     headers={"content-type": "image/png"})  # fmt: skip
        assert response.status_code == 200
        assert Image.open(io.BytesIO(response.content)).size == (160, 120)
