"""POST /segment through the ASGI app with its lifespan: the arithmetic on the session's fixed-weight artifacts (the
rule read from the manifest, the evidence from the engine, the gate, the formats, sizes, pieces and lengths), and
the shipped model's masks against true road masks."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from service.engine.artifact import load_artifact
from service.engine.explainer import network_of
from service.engine.types import VBPOptions
from service.explain.common import display_maps
from service.explain.gradcam import gradcam
from service.explain.roads import road_pieces
from service.explain.segmentation import SegmentRule, road_mask
from service.explain.visualbackprop import visualbackprop
from tests.service import images
from tests.service.conftest import assert_error, make_settings, serve
from training.data.synthetic import SyntheticConfig, make_tile
from training.explanations.segment_metrics import relaxed_counts
from training.explanations.tiles import jpeg_round_trip
from training.export import export_model
from training.model import ModelConfig, build_model

ROOT = Path(__file__).resolve().parents[2]
PNG = {"content-type": "image/png"}
RULE = {"method": "visualbackprop", "normalize_overlap": True, "evidence": 0.3, "grow": 1, "line_radius": 2}
RULE |= {"contrast": 0.9, "min_length": 4.0, "calibrated": True}


def thin_road(seed: int, size: tuple[int, int] = (96, 96)) -> Image.Image:
    """A dark textured picture (width, height) with a light road 2 px wide (at 96 x 96) crossing it."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    picture = 60 + 8 * rng.standard_normal((height, width, 3)) + 10 * np.sin(x / 9.0)[..., None]
    distance = np.abs((x / width - 0.2) * 0.8 - (y / height - 0.1)) * min(width, height)
    picture[distance < 1.0 * min(width, height) / 96] = (190, 180, 160)
    return Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8))


def set_manifest(folder: Path, **fields: Any) -> None:
    path = folder / "manifest.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | fields))


@pytest.fixture(scope="module")
def store(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's artifacts with segmentation rules: v1 never calls road; v2 always does (VisualBackProp
    rule); v3 always does (Grad-CAM rule); ``water`` has no road label."""
    root = tmp_path_factory.mktemp("segment-store")
    shutil.copytree(model_store, root, dirs_exist_ok=True)
    shutil.copytree(root / "roadnet" / "2", root / "roadnet" / "3")
    set_manifest(root / "roadnet" / "1", thresholds={"road": 1.01})
    set_manifest(root / "roadnet" / "2", thresholds={"road": 0.0}, segmentation=RULE)
    gradcam_rule = RULE | {"method": "gradcam", "evidence": 0.2}
    set_manifest(root / "roadnet" / "3", version=3, thresholds={"road": 0.0}, segmentation=gradcam_rule)
    export_model(build_model(ModelConfig(labels=("water",)), seed=0), root, "water")
    return root


# In-process, and through the Unix socket of the multi-process server (the engine's class_model operation).
@pytest.fixture(params=["local", "socket"])
async def client(request: pytest.FixtureRequest, store: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(make_settings(store), mode=request.param) as ready:
        yield ready


def decoded(body: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(body["data"]), body["dtype"]).reshape(body["shape"])


def expected_mask(folder: Path, picture: Image.Image, method: str = "visualbackprop") -> np.ndarray:
    """The rule of ``folder``'s manifest on the evidence computed here, from the artifact, without the service."""
    model = load_artifact(folder, torch.device("cpu"))
    x = torch.from_numpy(images.as_array(picture))[None]
    if method == "visualbackprop":
        with torch.inference_mode():
            _, features = model.module.forward_with_features(x)
            evidence, _ = visualbackprop(features, model.blocks, model.input_size, VBPOptions(normalize_overlap=True))
    else:
        evidence = display_maps(gradcam(network_of(model, 16), x, torch.tensor([[1.0]]), {"layer": None}), False)
    rule = SegmentRule.from_manifest(model.manifest)
    return road_mask(evidence[0].detach().numpy(), images.as_array(picture), rule)


async def test_the_mask_is_the_manifests_rule_on_the_engines_evidence(client: httpx.AsyncClient, store: Path) -> None:
    picture = thin_road(31)
    answer = await client.post("/segment?version=2", content=images.png(picture), headers=PNG)
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png", answer.text
    mask = np.asarray(Image.open(io.BytesIO(answer.content)))
    expected = expected_mask(store / "roadnet" / "2", picture)
    assert expected.sum() > 20 and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    assert np.array_equal(mask == 255, expected)
    npy = np.load(
        io.BytesIO(
            (await client.post("/segment?version=2&format=npy", content=images.png(picture), headers=PNG)).content
        )
    )
    assert npy.dtype == np.uint8 and np.array_equal(npy == 1, expected)
    body = (await client.post("/segment?version=2&format=json", content=images.png(picture), headers=PNG)).json()
    assert body["rule"] == RULE and body["road"] is True and np.array_equal(decoded(body["mask"]) == 1, expected)


async def test_another_method_goes_through_the_explanation_queue(client: httpx.AsyncClient, store: Path) -> None:
    picture = thin_road(32)
    body = (await client.post("/segment?version=3&format=json", content=images.png(picture), headers=PNG)).json()
    assert body["rule"]["method"] == "gradcam"
    assert np.array_equal(decoded(body["mask"]) == 1, expected_mask(store / "roadnet" / "3", picture, "gradcam"))


async def test_a_tile_the_model_calls_road_free_gets_an_empty_mask(client: httpx.AsyncClient) -> None:
    body = (await client.post("/segment?version=1&format=json&gsd_m=2", content=images.png(), headers=PNG)).json()
    assert body["road"] is False and body["labels"] == [] and body["pieces"] == []
    assert body["road_pixels"] == 0 and body["length_px"] == 0 and body["length_m"] == 0
    assert not decoded(body["mask"]).any() and body["rule"]["calibrated"] is False  # v1 has no rule: the defaults


async def test_pieces_and_lengths_in_pixels_and_metres(client: httpx.AsyncClient, store: Path) -> None:
    picture = thin_road(31)
    body = (
        await client.post("/segment?version=2&format=json&gsd_m=3", content=images.png(picture), headers=PNG)
    ).json()
    pieces = road_pieces(expected_mask(store / "roadnet" / "2", picture))
    assert len(body["pieces"]) == len(pieces) > 0
    by_box = {tuple(p["box"]): p for p in body["pieces"]}
    for piece in pieces:
        served = by_box[piece.box]
        assert served["pixels"] == piece.pixels and served["length_px"] == pytest.approx(piece.length, abs=1e-3)
        assert served["length_m"] == pytest.approx(3 * piece.length, abs=1e-2)
    assert [p["length_px"] for p in body["pieces"]] == sorted((p["length_px"] for p in body["pieces"]), reverse=True)
    assert body["length_px"] == pytest.approx(sum(p.length for p in pieces), abs=1e-2)
    assert body["road_pixels"] == sum(p.pixels for p in pieces) and body["gsd_m"] == 3


async def test_at_the_uploads_size_the_mask_is_scaled_and_so_are_the_lengths(
    client: httpx.AsyncClient, store: Path
) -> None:
    picture = thin_road(31, size=(192, 288))  # 2x wide, 3x tall: lengths scale per axis
    model_size = (
        await client.post("/segment?version=2&format=json&gsd_m=1", content=images.png(picture), headers=PNG)
    ).json()
    body = (
        await client.post("/segment?version=2&format=json&size=input&gsd_m=1", content=images.png(picture), headers=PNG)
    ).json()
    mask, small = decoded(body["mask"]), decoded(model_size["mask"])
    assert mask.shape == (288, 192) and np.array_equal(mask, np.kron(small, np.ones((3, 2), dtype=np.uint8)))
    assert body["length_m"] == pytest.approx(model_size["length_m"]) == pytest.approx(body["length_px"])
    for big, piece in zip(body["pieces"], model_size["pieces"], strict=True):
        x0, y0, x1, y1 = piece["box"]
        assert big["box"] == [2 * x0, 3 * y0, 2 * x1, 3 * y1] and big["pixels"] == 6 * piece["pixels"]
    png = (await client.post("/segment?version=2&size=input", content=images.png(picture), headers=PNG)).content
    assert Image.open(io.BytesIO(png)).size == (192, 288)


async def test_the_overlay_paints_the_road_pixels(client: httpx.AsyncClient, store: Path) -> None:
    picture = thin_road(31)
    answer = await client.post("/segment?version=2&overlay=true", content=images.png(picture), headers=PNG)
    painted = np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGB")).astype(int)
    original = (images.as_array(picture).transpose(1, 2, 0) * 255 + 0.5).astype(int)
    mask = expected_mask(store / "roadnet" / "2", picture)
    assert np.array_equal(painted[~mask], original[~mask])
    assert np.array_equal(painted[mask], (original[mask] + 3 * np.array([255, 48, 48])) // 4)


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("?format=json&overlay=true", 422, "invalid_parameter"),
        ("?gsd_m=0", 422, "invalid_parameter"),
        ("?gsd_m=abc", 422, "invalid_parameter"),
        ("?size=huge", 422, "invalid_parameter"),
        ("?model=water", 422, "not_applicable"),
        ("?model=nope", 404, None),
    ],
)
async def test_refusals(client: httpx.AsyncClient, query: str, status: int, code: str | None) -> None:
    assert_error(await client.post("/segment" + query, content=images.png(), headers=PNG), status, code)


async def test_a_malformed_rule_in_the_manifest_is_the_servers_fault(store: Path, tmp_path: Path) -> None:
    broken = tmp_path / "store"
    shutil.copytree(store / "roadnet" / "2", broken / "roadnet" / "1")
    set_manifest(broken / "roadnet" / "1", version=1, segmentation={"evidence": "high"})
    async with serve(make_settings(broken)) as client:
        error = assert_error(await client.post("/segment", content=images.png(), headers=PNG), 500)
    assert "segmentation" in error["message"]


def test_the_front_end_modules_import_no_torch() -> None:
    modules = "service.api.segment, service.api.class_model, service.explain.segmentation, service.explain.roads"
    code = f"import sys, {modules}; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.fixture
async def shipped() -> AsyncIterator[httpx.AsyncClient]:
    if not any((ROOT / "model_store" / "roadnet").glob("*/manifest.json")):
        pytest.fail("no shipped model in model_store/roadnet")
    async with serve(make_settings(ROOT / "model_store")) as ready:
        yield ready


def generator_tiles(road: bool, count: int) -> list[tuple[bytes, np.ndarray]]:
    """New tiles of the synthetic generator, JPEG-encoded like the dataset, with their true masks."""
    config, found, index = SyntheticConfig(road_fraction=1.0 if road else 0.0), [], 0
    while len(found) < count:
        tile = make_tile(4242, index, config)
        index += 1
        if tile.road_mask.any() == road:
            found.append((images.encoded(Image.fromarray(jpeg_round_trip(tile.image)), "PNG"), tile.road_mask))
    return found


async def test_the_shipped_models_masks_find_the_roads(shipped: httpx.AsyncClient) -> None:
    counts = np.zeros(4, dtype=np.int64)
    for data, truth in generator_tiles(road=True, count=16):
        body = (await shipped.post("/segment?format=json", content=data, headers=PNG)).json()
        assert body["rule"]["calibrated"], "calibrate the shipped model: python -m training.explanations.calibrate"
        counts += relaxed_counts(decoded(body["mask"]) == 1, truth)
    precision, recall = counts[0] / counts[1], counts[2] / counts[3]
    assert 2 * precision * recall / (precision + recall) >= 0.85, (precision, recall)


async def test_the_shipped_model_leaves_road_free_tiles_empty(shipped: httpx.AsyncClient) -> None:
    shares = []
    for data, _ in generator_tiles(road=False, count=12):
        body = (await shipped.post("/segment?format=json", content=data, headers=PNG)).json()
        shares.append(body["road_pixels"] / (96 * 96))
    assert np.median(shares) == 0.0 and max(shares) < 0.02
