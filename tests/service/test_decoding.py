"""What the model sees from each upload: compared through /features block0, a 1x1 conv of the decoded pixels.

A 1x1 convolution of the input is an almost direct view of the decoded, resized tensor, so comparing it with
the eager network's block0 on the expected picture checks decoding exactly, where probabilities would not.
"""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.service import images
from tests.service.reference import eager_outputs
from training.model import RoadNet


async def block0(client: httpx.AsyncClient, data: bytes, content_type: str = "image/png") -> np.ndarray:
    """The service's block0 maps for an upload."""
    response = await client.post(
        "/features?layers=block0&format=npz", content=data, headers={"content-type": content_type}
    )
    assert response.status_code == 200, response.text
    with np.load(io.BytesIO(response.content)) as archive:
        return np.asarray(archive["block0"])


def eager_block0(model: RoadNet, picture: Image.Image) -> np.ndarray:
    """The eager network's block0 maps for ``picture`` converted to RGB and resized as the service documents."""
    return eager_outputs(model, images.as_array(picture))[1]["block0"]


@pytest.mark.parametrize("fmt", list(images.every_format()))
async def test_every_format_is_read(client: httpx.AsyncClient, eager_model: RoadNet, fmt: str) -> None:
    data = images.every_format()[fmt]
    reference = Image.open(io.BytesIO(data))
    got = await block0(client, data, "image/" + fmt.split("-")[-1])
    np.testing.assert_allclose(got, eager_block0(eager_model, reference), atol=1e-5)


async def test_the_format_comes_from_the_bytes_not_the_header(client: httpx.AsyncClient) -> None:
    data = images.every_format()["webp"]
    np.testing.assert_array_equal(await block0(client, data, "image/png"), await block0(client, data, "image/webp"))


async def test_any_size_is_resized_with_bilinear(client: httpx.AsyncClient, eager_model: RoadNet) -> None:
    for size in [(300, 200), (40, 50), (96, 97)]:
        picture = images.tile(4, size=size)
        expected = eager_block0(eager_model, picture.resize((96, 96), Image.Resampling.BILINEAR))
        np.testing.assert_allclose(await block0(client, images.png(picture)), expected, atol=1e-5)


async def test_grayscale_palette_bilevel_and_cmyk(client: httpx.AsyncClient, eager_model: RoadNet) -> None:
    picture = images.tile(5)
    gray = picture.convert("L")
    palette = picture.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    bilevel = gray.convert("1")
    for name, data, reference in [
        ("gray", images.png(gray), gray),
        ("palette", images.png(palette), palette),
        ("bilevel", images.png(bilevel), bilevel),
    ]:
        np.testing.assert_allclose(
            await block0(client, data), eager_block0(eager_model, reference), atol=1e-5, err_msg=name
        )


async def test_16_bit_grayscale_is_scaled_not_truncated(client: httpx.AsyncClient, eager_model: RoadNet) -> None:
    gray = np.asarray(images.tile(6).convert("L"))
    got = await block0(client, images.gray16_png(gray))
    np.testing.assert_allclose(got, eager_block0(eager_model, Image.fromarray(gray)), atol=1e-5)


async def test_transparency_is_composited_over_black(client: httpx.AsyncClient, eager_model: RoadNet) -> None:
    picture = images.tile(6)
    alpha = np.tile(np.linspace(0, 255, 96), (96, 1)).round()
    got = await block0(client, images.rgba_png(picture, alpha))
    np.testing.assert_allclose(got, eager_block0(eager_model, images.composite_over_black(picture, alpha)), atol=2e-2)
    assert np.abs(got - eager_block0(eager_model, picture)).max() > 0.1  # the alpha really changed the input


async def test_palette_transparency_is_composited_too(client: httpx.AsyncClient, eager_model: RoadNet) -> None:
    palette = images.tile(7).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    transparent_index = int(np.asarray(palette)[0, 0])
    data = images.encoded(palette, "PNG", transparency=transparent_index)
    hidden = np.asarray(palette) == transparent_index
    expected = np.asarray(palette.convert("RGB")).copy()
    expected[hidden] = 0
    got = await block0(client, data)
    np.testing.assert_allclose(got, eager_block0(eager_model, Image.fromarray(expected)), atol=1e-5)


async def test_exif_orientation_is_applied(client: httpx.AsyncClient) -> None:
    upright = images.tile(8)
    plain = await block0(client, images.encoded(upright, "JPEG", quality=95), "image/jpeg")
    rotated = await block0(client, images.exif_rotated_jpeg(upright), "image/jpeg")
    stripped = await block0(
        client, images.encoded(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95), "image/jpeg"
    )
    assert np.abs(rotated - plain).mean() < 0.2 * np.abs(stripped - plain).mean()
