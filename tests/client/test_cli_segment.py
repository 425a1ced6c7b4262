"""``roadlens segment`` and ``roadlens class-model`` as subprocesses against the live server."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from tests.client.live import LiveServer
from tests.client.test_cli import EXIT_OK, EXIT_REJECTED, EXIT_USAGE, assert_clean_failure, roadlens


def opened(path: Path) -> Image.Image:
    with Image.open(path) as picture:
        picture.load()
        return picture.copy()


def test_segment_writes_the_mask_the_overlay_or_the_pieces(server: LiveServer, tile_dir: Path, tmp_path: Path) -> None:
    tile = str(tile_dir / "tile-0.png")
    run = roadlens("segment", tile, "-o", str(tmp_path / "roads.json"), "--gsd-m", "2.5", server=server)
    assert run.returncode == EXIT_OK, run.stderr
    body = json.loads((tmp_path / "roads.json").read_text())
    assert "mask" not in body and body["gsd_m"] == 2.5 and {"road", "pieces", "length_px", "rule"} <= set(body)
    assert ("road:" in run.stderr) == body["road"] and ("no road" in run.stderr) != body["road"]
    assert roadlens("segment", tile, "-o", str(tmp_path / "mask.npy"), server=server).returncode == EXIT_OK
    mask = np.load(tmp_path / "mask.npy")
    assert mask.shape == (96, 96) and mask.dtype == np.uint8 and int(mask.sum()) == body["road_pixels"]
    run = roadlens("segment", tile, "-o", str(tmp_path / "over.png"), "--overlay", "--size", "input", server=server)
    assert run.returncode == EXIT_OK and opened(tmp_path / "over.png").mode == "RGB"
    run = roadlens("segment", tile, "-o", str(tmp_path / "x.json"), "--overlay", server=server)
    assert_clean_failure(run, EXIT_USAGE, "--overlay")


def test_class_model_writes_the_image_and_says_its_score(server: LiveServer, tmp_path: Path) -> None:
    run = roadlens("class-model", "-o", str(tmp_path / "road.png"), "--steps", "8", "--seed", "3", server=server)
    assert run.returncode == EXIT_OK, run.stderr
    assert "road: p(road) = " in run.stderr and "after 8 steps (seed 3)" in run.stderr
    assert opened(tmp_path / "road.png").size == (96, 96)
    run = roadlens("class-model", "-o", str(tmp_path / "x.npy"), "--steps", "8", "--target", "not_road", server=server)
    assert run.returncode == EXIT_OK and np.load(tmp_path / "x.npy").shape == (96, 96, 3)
    picture = np.asarray(opened(tmp_path / "road.png"))
    assert picture.dtype == np.uint8 and picture.shape == (96, 96, 3)
    run = roadlens("class-model", "-o", str(tmp_path / "bad.png"), "--layer", "block1", server=server)
    assert_clean_failure(run, EXIT_REJECTED, "422")
