"""GET /explain and POST /explain/{method} through the ASGI app with its lifespan, as a client sees them."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from service.explain.base import Network
from service.explain.gradcam import gradcam_maps
from service.explain.occlusion import occlusion_maps
from tests.explain import SERVED_METHODS
from tests.service import images
from tests.service.conftest import assert_error, make_settings, serve

PNG = {"content-type": "image/png"}
METHODS = list(SERVED_METHODS)


@pytest.fixture
async def client(model_store: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(model_store, explain_max_samples=40, explain_min_window=8, explain_max_batch=32)
    async with serve(settings) as ready:
        yield ready


def from_json(array: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(array["data"]), "<f4").reshape(array["shape"])


async def post(client: httpx.AsyncClient, url: str, picture: Image.Image | None = None) -> httpx.Response:
    return await client.post(url, content=images.png(picture or images.tile(21)), headers=PNG)


async def test_the_listing_names_every_method_with_limits_from_the_settings(client: httpx.AsyncClient) -> None:
    response = await client.get("/explain")
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == {"name": "roadnet", "version": 2}
    assert body["targets"] == ["road", "not_road"] and body["default_target"] == "road" and body["max_batch"] == 32
    listed = {method["name"]: method for method in body["methods"]}
    assert set(listed) == {*METHODS, "cam"}
    assert listed["cam"]["applicable"] is False and "max-pool" in listed["cam"]["reason"]
    samples = next(p for p in listed["smoothgrad"]["params"] if p["name"] == "samples")
    assert (samples["default"], samples["minimum"], samples["maximum"]) == (25, 1, 40)
    window = next(p for p in listed["occlusion"]["params"] if p["name"] == "window")
    assert window["minimum"] == 8


@pytest.mark.parametrize("method", METHODS)
async def test_every_method_answers_in_every_format(client: httpx.AsyncClient, method: str) -> None:
    cheap = {"smoothgrad": "&samples=4&seed=1", "integrated_gradients": "&steps=4", "occlusion": "&window=32&stride=32"}
    query = cheap.get(method, "")
    grey = await post(client, f"/explain/{method}?{query}")
    assert grey.status_code == 200 and grey.headers["content-type"] == "image/png", grey.text
    assert Image.open(io.BytesIO(grey.content)).mode == "L" and grey.headers["x-model-version"] == "2"
    npy = await post(client, f"/explain/{method}?format=npy{query}")
    mask = np.load(io.BytesIO(npy.content))
    assert mask.shape == (96, 96) and mask.dtype == np.float32 and mask.min() >= 0 and mask.max() <= 1
    body = (await post(client, f"/explain/{method}?format=json{query}")).json()
    assert body["method"] == method and body["target"] == "road" and body["values"] == "display"
    np.testing.assert_allclose(from_json(body["map"]), mask, atol=1e-6)
    assert set(body["probabilities"]) == {"road"}


async def test_gradcam_over_http_is_the_method_on_the_decoded_image(
    client: httpx.AsyncClient, network: Network
) -> None:
    picture = images.tile(22)
    body = (await post(client, "/explain/gradcam?format=json&raw=true&layer=block2&target=not_road", picture)).json()
    assert body["params"] == {"layer": "block2"} and body["target"] == "not_road" and body["values"] == "raw"
    x = torch.from_numpy(images.as_array(picture))[None]
    expected = gradcam_maps(network, x, torch.tensor([[-1.0]]), "block2")[0].numpy()
    np.testing.assert_allclose(from_json(body["map"]), expected, rtol=1e-4, atol=1e-6)


async def test_not_road_negates_the_signed_maps(client: httpx.AsyncClient, network: Network) -> None:
    picture = images.tile(23)
    query = "format=npy&raw=true&window=24&stride=12&baseline=mean"
    road = np.load(io.BytesIO((await post(client, f"/explain/occlusion?{query}", picture)).content))
    against = np.load(io.BytesIO((await post(client, f"/explain/occlusion?{query}&target=not_road", picture)).content))
    np.testing.assert_allclose(against, -road, atol=1e-6)
    assert road.min() < 0 < road.max()
    x = torch.from_numpy(images.as_array(picture))[None]
    mean = torch.tensor(network.mean).view(1, 3, 1, 1).expand_as(x)
    np.testing.assert_allclose(road, occlusion_maps(network, x, torch.ones(1, 1), 24, 12, mean)[0], atol=1e-5)


async def test_sizes_and_overlays(client: httpx.AsyncClient) -> None:
    big = images.tile(24, size=(160, 120))
    resized = await post(client, "/explain/saliency?size=input", big)
    assert Image.open(io.BytesIO(resized.content)).size == (160, 120)
    overlay = await post(client, "/explain/gradcam?overlay=true&size=input", big)
    picture = Image.open(io.BytesIO(overlay.content))
    assert picture.mode == "RGB" and picture.size == (160, 120)


async def test_cam_is_not_applicable_with_the_reason(client: httpx.AsyncClient) -> None:
    error = assert_error(await post(client, "/explain/cam"), 422, "not_applicable")
    assert "global average pooling" in error["message"] and "hidden linear layer" in error["message"]


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("/explain/lime", "method"),
        ("/explain/smoothgrad?samples=41", "samples"),
        ("/explain/occlusion?window=7", "window"),
        ("/explain/occlusion?window=16&stride=17", "stride"),
        ("/explain/integrated_gradients?steps=129", "steps"),
        ("/explain/saliency?steps=3", "steps"),
        ("/explain/gradcam?layer=block7", "layer"),
        ("/explain/saliency?target=river", "target"),
        ("/explain/saliency?raw=true", "raw"),
        ("/explain/saliency?format=npy&overlay=true", "overlay"),
    ],
)
async def test_refusals_are_422_naming_what_is_accepted(client: httpx.AsyncClient, url: str, named: str) -> None:
    error = assert_error(await post(client, url), 422, "invalid_parameter")
    assert error["detail"]["parameter"] == named
    assert {"accepted", "accepted_formats", "maximum"} & set(error["detail"]), error  # what would be accepted


async def test_bad_query_types_use_the_uniform_error(client: httpx.AsyncClient) -> None:
    error = assert_error(await post(client, "/explain/occlusion?baseline=grey"), 422, "invalid_parameter")
    assert "black" in error["message"]
