"""Road masks and class-model images through both clients against the live server: typed results, arrays, PNGs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image
from roadlens_client import AsyncClient, ClassModel, Client, InvalidParameter, Segmentation

from tests.client.live import API_KEY, LiveServer


@pytest.fixture
def client(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, api_key=API_KEY, timeout=60) as roadlens:
        yield roadlens


def test_segment_gives_a_typed_mask_with_its_pieces(client: Client, tiles: list[np.ndarray]) -> None:
    result = client.segment(tiles[0], gsd_m=3.0)
    assert isinstance(result, Segmentation) and (result.model.name, result.model.version) == ("roadnet", 2)
    assert result.mask.shape == (96, 96) and result.mask.dtype == np.uint8 and set(np.unique(result.mask)) <= {0, 1}
    assert result.road_pixels == int(result.mask.sum()) and result.gsd_m == 3.0
    assert result.road == ("road" in result.labels) and result.rule["method"] == "visualbackprop"
    assert result.length_m == pytest.approx(3 * result.length_px, abs=0.01)
    assert result.length_px == pytest.approx(sum(piece.length_px for piece in result.pieces), abs=0.01)
    big = client.segment(Image.fromarray(tiles[0]).resize((192, 192)), size="input")
    assert big.mask.shape == (192, 192)
    png = client.segment_png(tiles[0])
    assert np.array_equal(png.to_array() == 255, result.mask == 1) and png.model == result.model
    overlay = client.segment_png(tiles[0], overlay=True)
    assert overlay.image().mode == "RGB" and overlay.image().size == (96, 96)


def test_class_model_gives_the_image_and_its_scores(client: Client) -> None:
    result = client.class_model(target="not_road", steps=10, seed=2)
    assert isinstance(result, ClassModel) and result.target == "not_road" and (result.steps, result.seed) == (10, 2)
    assert result.image.shape == (96, 96, 3) and result.image.dtype == np.float32
    assert 0.0 <= result.probability <= 1.0 and result.probabilities == {"road": result.probability}
    picture = client.class_model_png(target="not_road", steps=10, seed=2)
    assert np.array_equal(picture.to_array(), (result.image * 255 + 0.5).astype(np.uint8))
    channel = client.class_model(layer="block2", channel=4, steps=6)
    assert (channel.layer, channel.channel, channel.target) == ("block2", 4, None)
    with pytest.raises(InvalidParameter):
        client.class_model(steps=10_000)


async def test_the_async_client_makes_the_same_calls(server: LiveServer, tiles: list[np.ndarray]) -> None:
    async with AsyncClient(server.url, api_key=API_KEY, timeout=60) as roadlens:
        mask, picture, image, png = await asyncio.gather(
            roadlens.segment(tiles[1]),
            roadlens.segment_png(tiles[1], overlay=True),
            roadlens.class_model(steps=10, seed=1),
            roadlens.class_model_png(steps=10, seed=1),
        )
    with Client(server.url, api_key=API_KEY, timeout=60) as blocking:
        assert np.array_equal(mask.mask, blocking.segment(tiles[1]).mask)
    assert picture.image().mode == "RGB"
    assert image.target == "road" and np.array_equal(png.to_array(), (image.image * 255 + 0.5).astype(np.uint8))
