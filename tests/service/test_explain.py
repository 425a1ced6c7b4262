"""POST /features and POST /visualbackprop against plain references on the eager network."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from service.api.deps import Services
from tests.service import images
from tests.service.reference import eager_outputs, reference_vbp
from training.model import RoadNet

PNG = {"content-type": "image/png"}
BLOCKS = ["block0", "block1", "block2", "block3"]


def from_json(array: dict[str, Any]) -> np.ndarray:
    assert array["dtype"] == "float32"
    return np.frombuffer(base64.b64decode(array["data"]), "<f4").reshape(array["shape"])


async def post(client: httpx.AsyncClient, url: str, data: bytes, **headers: str) -> httpx.Response:
    response = await client.post(url, content=data, headers={**PNG, **headers})
    assert response.status_code == 200, response.text
    return response


async def test_features_npz_equal_forward_hooks(client: httpx.AsyncClient, eager_model: RoadNet) -> None:
    picture = images.tile(11)
    response = await post(client, "/features?format=npz", images.png(picture))
    assert response.headers["content-type"] == "application/x-npz"
    _, expected = eager_outputs(eager_model, images.as_array(picture))
    with np.load(io.BytesIO(response.content)) as archive:
        assert sorted(archive.files) == BLOCKS
        for name in BLOCKS:
            assert archive[name].dtype == np.float32 and archive[name].shape == expected[name].shape
            np.testing.assert_allclose(archive[name], expected[name], atol=1e-5, err_msg=name)
    assert expected["block3"].shape == (64, 12, 12) and expected["block1"].shape == (32, 48, 48)


async def test_features_json_with_selected_layers(client: httpx.AsyncClient, eager_model: RoadNet) -> None:
    picture = images.tile(12)
    response = await post(client, "/features?format=json&layers=block3,block1", images.png(picture))
    body = response.json()
    assert body["model"] == {"name": "roadnet", "version": 2}
    assert list(body["features"]) == ["block1", "block3"]  # model order, whatever the request's order
    _, expected = eager_outputs(eager_model, images.as_array(picture))
    for name, array in body["features"].items():
        np.testing.assert_allclose(from_json(array), expected[name], atol=1e-5)


async def test_features_png_is_one_labelled_grid(client: httpx.AsyncClient) -> None:
    every = await post(client, "/features", images.png(images.tile(13)))
    assert every.headers["content-type"] == "image/png"
    grid = Image.open(io.BytesIO(every.content))
    assert grid.mode == "L" and grid.width >= 96 and grid.height > 4 * 96
    one = Image.open(io.BytesIO((await post(client, "/features?layers=block3", images.png(images.tile(13)))).content))
    assert one.height < grid.height / 2  # only one layer's panel
    pixels = np.asarray(one)
    assert (pixels[:14] > 200).sum() > 30  # the layer name is drawn in white in the title strip
    assert pixels[20:].std() > 10  # channels are scaled to show their structure


async def test_features_content_negotiation(client: httpx.AsyncClient) -> None:
    data = images.png(images.tile(14))
    for accept, media in [
        ("application/json", "application/json"),
        ("application/x-npz", "application/x-npz"),
        ("image/png", "image/png"),
        ("*/*", "image/png"),
        ("text/html;q=0.9, application/json;q=0.5, image/png;q=0.1", "application/json"),
    ]:
        response = await post(client, "/features", data, accept=accept)
        assert response.headers["content-type"] == media, accept
    explicit = await post(client, "/features?format=npz", data, accept="application/json")
    assert explicit.headers["content-type"] == "application/x-npz"  # the parameter wins over the header


@pytest.mark.parametrize("normalize_overlap", [False, True])
async def test_vbp_npy_equals_the_reference(
    client: httpx.AsyncClient, eager_model: RoadNet, normalize_overlap: bool
) -> None:
    picture = images.tile(15)
    url = f"/visualbackprop?format=npy&normalize_overlap={str(normalize_overlap).lower()}"
    response = await post(client, url, images.png(picture))
    assert response.headers["content-type"] == "application/x-npy"
    mask = np.load(io.BytesIO(response.content), allow_pickle=False)
    assert mask.dtype == np.float32 and mask.shape == (96, 96)
    assert mask.min() == 0.0 and mask.max() == pytest.approx(1.0)
    expected = reference_vbp(eager_model, images.as_array(picture), normalize_overlap)
    np.testing.assert_allclose(mask, expected, atol=1e-4)


async def test_vbp_variants_differ(client: httpx.AsyncClient) -> None:
    data = images.png(images.tile(16))
    faithful = np.load(io.BytesIO((await post(client, "/visualbackprop?format=npy", data)).content))
    smooth = np.load(
        io.BytesIO((await post(client, "/visualbackprop?format=npy&normalize_overlap=true", data)).content)
    )
    assert np.abs(faithful - smooth).max() > 0.05


async def test_vbp_png_default_and_accept(client: httpx.AsyncClient, eager_model: RoadNet) -> None:
    picture = images.tile(17)
    for headers in ({}, {"accept": "image/png"}):
        response = await post(client, "/visualbackprop", images.png(picture), **headers)
        assert response.headers["content-type"] == "image/png"
        mask = Image.open(io.BytesIO(response.content))
        assert mask.mode == "L" and mask.size == (96, 96)
        expected = np.round(reference_vbp(eager_model, images.as_array(picture)) * 255)
        assert np.abs(np.asarray(mask, dtype=np.float32) - expected).max() <= 1
    negotiated = await post(client, "/visualbackprop", images.png(picture), accept="application/x-npy")
    assert negotiated.headers["content-type"] == "application/x-npy"


async def test_vbp_size_input_and_overlay(client: httpx.AsyncClient) -> None:
    picture = images.tile(18, size=(160, 120))
    data = images.png(picture)
    resized = np.load(io.BytesIO((await post(client, "/visualbackprop?format=npy&size=input", data)).content))
    assert resized.shape == (120, 160) and resized.min() >= 0.0 and resized.max() <= 1.0
    rotated = images.exif_rotated_jpeg(picture)  # stored 120 wide, 160 high; upright it is 160 x 120 again
    upright = await client.post(
        "/visualbackprop?format=npy&size=input", content=rotated, headers={"content-type": "image/jpeg"}
    )
    assert np.load(io.BytesIO(upright.content)).shape == (120, 160)
    overlay = Image.open(io.BytesIO((await post(client, "/visualbackprop?overlay=true&size=input", data)).content))
    assert overlay.mode == "RGB" and overlay.size == (160, 120)
    small = Image.open(io.BytesIO((await post(client, "/visualbackprop?overlay=true", data)).content))
    assert small.mode == "RGB" and small.size == (96, 96)
    # half picture, half heat map: the overlay is neither the picture nor grayscale
    difference = np.abs(np.asarray(overlay, dtype=np.float32) - np.asarray(picture, dtype=np.float32)).mean()
    assert difference > 5
    channels = np.asarray(overlay, dtype=np.float32)
    assert np.abs(channels[..., 0] - channels[..., 2]).mean() > 5


async def test_overlay_is_half_picture_half_jet(client: httpx.AsyncClient) -> None:
    picture = images.tile(20)
    data = images.png(picture)
    mask = np.load(io.BytesIO((await post(client, "/visualbackprop?format=npy", data)).content))
    overlay = np.asarray(Image.open(io.BytesIO((await post(client, "/visualbackprop?overlay=true", data)).content)))
    level = np.round(mask * 255)
    jet = np.stack([np.clip(1.5 - np.abs(4 * level / 255 - c), 0, 1) for c in (3, 2, 1)], axis=-1) * 255
    expected = (np.asarray(picture, dtype=np.float32) + np.round(jet)) / 2
    assert np.abs(overlay.astype(np.float32) - expected).max() <= 1.5
    hottest = np.unravel_index(np.argmax(mask), mask.shape)
    assert overlay[hottest][0] > overlay[hottest][2]  # the strongest pixel is drawn red, not blue


async def test_binary_responses_name_the_model(client: httpx.AsyncClient) -> None:
    for url in ("/visualbackprop?version=1", "/features?format=npz&version=1"):
        response = await post(client, url, images.png())
        assert (response.headers["x-model-name"], response.headers["x-model-version"]) == ("roadnet", "1")


async def test_vbp_json_with_layers(client: httpx.AsyncClient, eager_model: RoadNet) -> None:
    picture = images.tile(19)
    body = (await post(client, "/visualbackprop?format=json&layers=true", images.png(picture))).json()
    np.testing.assert_allclose(from_json(body["mask"]), reference_vbp(eager_model, images.as_array(picture)), atol=1e-4)
    probabilities, maps = eager_outputs(eager_model, images.as_array(picture))
    assert body["probabilities"]["road"] == pytest.approx(float(probabilities[0]), abs=1e-5)
    assert [level["name"] for level in body["layers"]] == ["block3", "block2", "block1", "block0"]
    deepest = body["layers"][0]
    averaged = from_json(deepest["averaged"])
    assert averaged.shape == (12, 12)
    plain = maps["block3"].mean(axis=0)
    np.testing.assert_allclose(averaged, (plain - plain.min()) / (plain.max() - plain.min()), atol=1e-4)
    assert from_json(body["layers"][-1]["mask"]).shape == (96, 96)
    without = (await post(client, "/visualbackprop?format=json", images.png(picture))).json()
    assert "layers" not in without


async def test_small_plain_masks_skip_the_thread_pool(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 96 x 96 PNG or NPY renders on the event loop; overlays, uploads' sizes and JSON go to the pool."""
    offloaded: list[str] = []
    original = Services.offload

    async def recording(self: Services, fn: Callable[..., Any], *args: Any) -> Any:
        offloaded.append(fn.__name__)
        return await original(self, fn, *args)

    monkeypatch.setattr(Services, "offload", recording)
    data = images.png(images.tile(21, size=(120, 100)))
    for query, pooled in [
        ("", False),
        ("?format=npy", False),
        ("?overlay=true", True),
        ("?size=input", True),
        ("?format=json", True),
    ]:
        offloaded.clear()
        await post(client, f"/visualbackprop{query}", data)
        assert ("render" in offloaded) is pooled, query
