"""The blocking client against a live server: every call, typed results, and the server's errors as exceptions."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from roadlens_client import (
    Client,
    FeatureMaps,
    InvalidImage,
    InvalidParameter,
    NotApplicable,
    NotFound,
    Picture,
    RetryPolicy,
    Timeout,
    TransportError,
    Unauthorized,
)

from tests.client.live import API_KEY, LiveServer, free_port

BLOCK_SHAPES = {"block0": (8, 96, 96), "block1": (32, 48, 48), "block2": (32, 24, 24), "block3": (64, 12, 12)}


@pytest.fixture
def client(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, api_key=API_KEY, timeout=30) as roadlens:
        yield roadlens


def png_bytes(tile: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(tile).save(buffer, format="PNG")
    return buffer.getvalue()


def test_health_readiness_and_models(client: Client) -> None:
    assert client.health().status == "alive"
    ready = client.readiness()
    assert ready.status == "ready" and ready.device == "cpu"
    assert [(m.name, m.version) for m in ready.models] == [("roadnet", 1), ("roadnet", 2)]
    default = next(m for m in client.models() if m.default)
    assert (default.name, default.version, default.labels) == ("roadnet", 2, ["road"])
    assert default.layers == list(BLOCK_SHAPES)


def test_predict_reads_every_kind_of_image_input(client: Client, tiles: list[np.ndarray], tile_dir: Path) -> None:
    tile = tiles[0]
    inputs = [tile_dir / "tile-0.png", str(tile_dir / "tile-0.png"), png_bytes(tile), Image.fromarray(tile), tile]
    result = client.predict(inputs)
    assert (result.model.name, result.model.version) == ("roadnet", 2)
    probabilities = [p.probability for p in result.predictions]
    assert len(probabilities) == len(inputs) and 0.0 < probabilities[0] < 1.0
    assert probabilities == pytest.approx([probabilities[0]] * len(inputs), abs=1e-6)  # the same pixels every time
    as_floats = client.predict(tile.astype(np.float32) / 255.0).predictions[0].probability
    assert as_floats == pytest.approx(probabilities[0], abs=1e-6)


def test_predict_keeps_order_and_labels_follow_the_threshold(client: Client, tiles: list[np.ndarray]) -> None:
    together = client.predict(tiles).predictions
    alone = [client.predict(tile).predictions[0] for tile in tiles]
    assert [p.probability for p in together] == pytest.approx([p.probability for p in alone], abs=1e-6)
    assert len({round(p.probability, 4) for p in together}) > 1, "the tiles should not all look the same"
    for prediction in together:
        assert prediction.label == ("road" if prediction.probability >= 0.5 else "no_road")


def test_a_model_version_can_be_chosen(client: Client, tiles: list[np.ndarray]) -> None:
    first = client.predict(tiles[0], model="roadnet", version=1)
    assert first.model.version == 1
    assert first.predictions[0].probability != pytest.approx(client.predict(tiles[0]).predictions[0].probability)


def test_features_as_arrays_and_as_a_picture(client: Client, tiles: list[np.ndarray]) -> None:
    maps = client.features(tiles[0])
    assert isinstance(maps, FeatureMaps) and maps.model is not None and maps.model.version == 2
    assert {name: array.shape for name, array in maps.maps.items()} == BLOCK_SHAPES
    assert all(array.dtype == np.float32 and array.min() >= 0.0 for array in maps.maps.values())  # post-ReLU
    assert list(client.features(tiles[0], layers=["block1", "block3"]).maps) == ["block1", "block3"]
    grid = client.features_grid(tiles[0], layers=["block1"])
    assert isinstance(grid, Picture) and grid.png.startswith(b"\x89PNG")
    picture = grid.image()
    assert picture.width > 48 * 5 and picture.height > 48 * 5  # 32 channels of 48 x 48 in a grid


def test_visualbackprop_mask_levels_and_variants(client: Client, tiles: list[np.ndarray]) -> None:
    result = client.visualbackprop(tiles[0], layers=True)
    assert result.mask.shape == (96, 96) and result.mask.dtype == np.float32
    assert result.mask.min() == pytest.approx(0.0) and result.mask.max() == pytest.approx(1.0)
    assert [(level.name, level.mask.shape) for level in result.layers] == [
        ("block3", (12, 12)),
        ("block2", (24, 24)),
        ("block1", (48, 48)),
        ("block0", (96, 96)),
    ]
    assert result.probabilities["road"] == pytest.approx(client.predict(tiles[0]).predictions[0].probability)
    normalised = client.visualbackprop(tiles[0], normalize_overlap=True)
    assert normalised.layers == [] and not np.allclose(normalised.mask, result.mask, atol=1e-3)


def test_visualbackprop_pictures(client: Client, tiles: list[np.ndarray]) -> None:
    mask = client.visualbackprop_png(tiles[0]).image()
    assert (mask.mode, mask.size) == ("L", (96, 96))
    overlay = client.visualbackprop_png(tiles[0], overlay=True)
    assert overlay.model is not None and overlay.model.name == "roadnet"
    assert overlay.to_array().shape == (96, 96, 3)
    wide = Image.fromarray(tiles[0]).resize((150, 120))
    assert client.visualbackprop(wide, size="input").mask.shape == (120, 150)


def test_explain_methods_maps_and_pictures(client: Client, tiles: list[np.ndarray]) -> None:
    catalog = client.methods()
    names = {method.name for method in catalog.applicable()}
    assert {"visualbackprop", "saliency", "gradcam", "occlusion"} <= names
    assert catalog.default_target == "road" and "not_road" in catalog.targets
    gradcam = client.explain("gradcam", tiles[0], layer="block2")
    assert (gradcam.method, gradcam.target, gradcam.params["layer"]) == ("gradcam", "road", "block2")
    assert gradcam.map.shape == (96, 96) and 0.0 <= gradcam.map.min() <= gradcam.map.max() <= 1.0
    against = client.explain("saliency", tiles[0], target="not_road", raw=True)
    assert (against.target, against.values) == ("not_road", "raw")
    overlay = client.explain_png("occlusion", tiles[0], overlay=True, window=16, stride=16)
    assert overlay.to_array().shape == (96, 96, 3)


def test_explain_errors_name_what_is_accepted(client: Client, tiles: list[np.ndarray]) -> None:
    with pytest.raises(InvalidParameter) as unknown:
        client.explain("telepathy", tiles[0])
    assert unknown.value.status == 422 and "gradcam" in unknown.value.message
    with pytest.raises(NotApplicable) as cam:
        client.explain("cam", tiles[0])
    assert cam.value.code == "not_applicable" and "average pooling" in cam.value.message


def test_errors_carry_the_server_code_message_and_detail(client: Client, tiles: list[np.ndarray]) -> None:
    with pytest.raises(InvalidImage) as not_image:
        client.predict(b"this is not an image")
    assert (not_image.value.status, not_image.value.code) == (400, "invalid_image")
    assert "not an image" in not_image.value.message and "PNG" in not_image.value.detail["accepted_formats"]
    with pytest.raises(InvalidParameter) as bad_layer:
        client.features(tiles[0], layers=["block9"])
    assert bad_layer.value.detail["accepted"] == list(BLOCK_SHAPES)
    with pytest.raises(NotFound) as unknown_model:
        client.predict(tiles[0], model="nosuchmodel")
    assert unknown_model.value.code == "unknown_model" and "nosuchmodel" in unknown_model.value.message


@pytest.mark.parametrize("key", [None, "wrong-key-0123456789abcdef"])
def test_the_api_key_is_required(server: LiveServer, tiles: list[np.ndarray], key: str | None) -> None:
    with Client(server.url, api_key=key) as roadlens:
        assert roadlens.health().status == "alive"  # probes need no key
        with pytest.raises(Unauthorized) as refused:
            roadlens.predict(tiles[0])
    assert refused.value.status == 401 and "API key" in refused.value.message


def test_timeouts_and_unreachable_servers(server: LiveServer, tiles: list[np.ndarray]) -> None:
    hasty = Client(server.url, api_key=API_KEY, timeout=1e-6, retry=RetryPolicy(retries=0))
    with hasty, pytest.raises(Timeout):
        hasty.visualbackprop(tiles[0])
    with Client(f"http://127.0.0.1:{free_port()}") as nowhere, pytest.raises(TransportError, match="cannot reach"):
        nowhere.health()
