"""POST /predict through HTTP: every image format and colour mode, several images, model selection."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.service import images
from tests.service.reference import eager_outputs
from training.model import RoadNet


def road_probability(response: httpx.Response) -> float:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"name": "roadnet", "version": 2}
    [entry] = body["predictions"]
    return float(entry["probabilities"]["road"])


def expected(model: RoadNet, picture: Image.Image) -> float:
    probabilities, _ = eager_outputs(model, images.as_array(picture))
    return float(probabilities[0])


async def test_multipart_png_matches_the_eager_model(client: httpx.AsyncClient, eager_model: RoadNet) -> None:
    picture = images.tile(1)
    response = await client.post("/predict", files={"file": ("tile.png", images.png(picture), "image/png")})
    assert road_probability(response) == pytest.approx(expected(eager_model, picture), abs=1e-5)


async def test_raw_image_body(client: httpx.AsyncClient, eager_model: RoadNet) -> None:
    picture = images.tile(2)
    response = await client.post("/predict", content=images.png(picture), headers={"content-type": "image/png"})
    assert road_probability(response) == pytest.approx(expected(eager_model, picture), abs=1e-5)


async def test_several_images_keep_their_order(client: httpx.AsyncClient, eager_model: RoadNet) -> None:
    pictures = [images.tile(seed) for seed in range(5)]
    files = [("file", (f"{i}.png", images.png(p), "image/png")) for i, p in enumerate(pictures)]
    response = await client.post("/predict", files=files)
    assert response.status_code == 200, response.text
    got = [p["probabilities"]["road"] for p in response.json()["predictions"]]
    want = [expected(eager_model, p) for p in pictures]
    assert got == pytest.approx(want, abs=1e-5)
    assert len(set(np.round(want, 6))) == len(want)  # distinct pictures: the order check means something


async def test_any_size_is_resized_bilinear(client: httpx.AsyncClient, eager_model: RoadNet) -> None:
    big = images.tile(4, size=(300, 200))
    response = await client.post("/predict", files={"file": ("big.png", images.png(big), "image/png")})
    want = expected(eager_model, big.resize((96, 96), Image.Resampling.BILINEAR))
    assert road_probability(response) == pytest.approx(want, abs=1e-5)


async def test_labels_follow_the_manifest_threshold(client: httpx.AsyncClient) -> None:
    files = [("file", (f"{seed}.png", images.png(images.tile(seed)), "image/png")) for seed in range(8)]
    predictions = (await client.post("/predict", files=files)).json()["predictions"]
    for entry in predictions:
        assert entry["labels"] == (["road"] if entry["probabilities"]["road"] >= 0.5 else [])
    assert {len(entry["labels"]) for entry in predictions} == {0, 1}  # both sides of the threshold were seen


async def test_model_version_selection(client: httpx.AsyncClient) -> None:
    data = images.png(images.tile(8))
    latest = await client.post("/predict", content=data, headers={"content-type": "image/png"})
    first = await client.post("/predict?model=roadnet&version=1", content=data, headers={"content-type": "image/png"})
    assert first.status_code == 200, first.text
    assert first.json()["model"] == {"name": "roadnet", "version": 1}
    assert first.json()["predictions"] != latest.json()["predictions"]


async def test_models_lists_versions_and_manifests(client: httpx.AsyncClient) -> None:
    response = await client.get("/models")
    assert response.status_code == 200
    models = response.json()["models"]
    assert [(m["name"], m["version"], m["default"]) for m in models] == [("roadnet", 1, False), ("roadnet", 2, True)]
    assert models[1]["manifest"]["labels"] == ["road"]
    assert models[1]["manifest"]["input"]["height"] == 96
