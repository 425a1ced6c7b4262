"""GET /class-model through the ASGI app: formats, determinism and the cache, the bounds; and the shipped model's
images fed back to POST /predict score as their target."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.service.conftest import assert_error, make_settings, serve

ROOT = Path(__file__).resolve().parents[2]
CHEAP = "steps=12"


# In-process, and through the Unix socket of the multi-process server (the engine's class_model operation).
@pytest.fixture(params=["local", "socket"])
async def client(request: pytest.FixtureRequest, model_store: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(make_settings(model_store), mode=request.param) as ready:
        yield ready


async def test_png_npy_and_json_are_the_same_image(client: httpx.AsyncClient) -> None:
    png = await client.get(f"/class-model?{CHEAP}&seed=3")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png", png.text
    assert png.headers["x-model-name"] == "roadnet" and png.headers["x-model-version"] == "2"
    picture = np.asarray(Image.open(io.BytesIO(png.content)))
    assert picture.shape == (96, 96, 3) and picture.dtype == np.uint8
    npy = np.load(io.BytesIO((await client.get(f"/class-model?{CHEAP}&seed=3&format=npy")).content))
    assert npy.shape == (96, 96, 3) and npy.dtype == np.float32 and npy.min() >= 0 and npy.max() <= 1
    assert np.array_equal(picture, (npy * 255 + 0.5).astype(np.uint8))
    body = (await client.get(f"/class-model?{CHEAP}&seed=3", headers={"accept": "application/json"})).json()
    image = np.frombuffer(base64.b64decode(body["image"]["data"]), "<f4").reshape(body["image"]["shape"])
    assert np.array_equal(image, npy) and body["target"] == "road" and body["steps"] == 12 and body["seed"] == 3
    assert set(body["probabilities"]) == {"road"} and body["layer"] is None and body["compute_ms"] > 0


async def test_a_seed_gives_one_image_made_once(client: httpx.AsyncClient) -> None:
    first = (await client.get(f"/class-model?{CHEAP}&seed=4&format=json")).json()
    again = (await client.get(f"/class-model?{CHEAP}&seed=4&format=json")).json()
    other = (await client.get(f"/class-model?{CHEAP}&seed=5&format=json")).json()
    assert again == first  # compute_ms too: the cached result, not a second ascent
    assert other["image"] != first["image"]
    not_road = (await client.get(f"/class-model?{CHEAP}&seed=4&format=json&target=not_road")).json()
    assert not_road["target"] == "not_road" and not_road["objective"] != first["objective"]
    assert not_road["probabilities"]["road"] < first["probabilities"]["road"]


async def test_a_channel_of_a_block(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"/class-model?{CHEAP}&layer=block1&channel=7&format=json")).json()
    assert (body["layer"], body["channel"], body["target"]) == ("block1", 7, None) and body["objective"] > 0


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("steps=0", "steps"),
        ("steps=501", "steps"),
        ("seed=-1", "seed"),
        ("target=water", "target"),
        ("layer=block1", "layer"),
        ("channel=3", "channel"),
        ("layer=block9&channel=0", "layer"),
        ("layer=block1&channel=32", "channel"),
        ("layer=block1&channel=1&target=road", "target"),
        ("format=gif", "format"),
    ],
)
async def test_refusals_name_the_parameter(client: httpx.AsyncClient, query: str, named: str) -> None:
    error = assert_error(await client.get(f"/class-model?{query}"), 422, "invalid_parameter")
    assert named in error["message"] + str(error["detail"])


async def test_an_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/class-model?model=nope"), 404)


async def test_the_shipped_models_images_score_as_their_target_through_predict() -> None:
    if not any((ROOT / "model_store" / "roadnet").glob("*/manifest.json")):
        pytest.fail("no shipped model in model_store/roadnet")
    async with serve(make_settings(ROOT / "model_store")) as client:
        for target, passes in (("road", lambda p: p >= 0.99), ("not_road", lambda p: p <= 0.01)):
            png = (await client.get(f"/class-model?target={target}")).content
            scored = await client.post("/predict", content=png, headers={"content-type": "image/png"})
            probability = scored.json()["predictions"][0]["probabilities"]["road"]
            assert passes(probability), (target, probability)
