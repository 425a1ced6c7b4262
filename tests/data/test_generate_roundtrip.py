"""Writer -> loader round trip on a tiny generated dataset, through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from training.data.generate import write_dataset
from training.data.planet import load_planet
from training.data.synthetic import SyntheticConfig, make_tile
from training.data.tileset import ALL_PLANET_TAGS

COUNT, SEED = 24, 3


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    cmd = [sys.executable, "-m", "training.data.generate", "--out", str(out), "--count", str(COUNT)]
    cmd += ["--seed", str(SEED), "--road-fraction", "0.5", "--workers", "1"]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def test_layout_and_manifest(written: Path) -> None:
    lines = (written / "train_v2.csv").read_text().splitlines()
    assert lines[0] == "image_name,tags" and len(lines) == COUNT + 1
    assert lines[1].startswith("train_0,")
    assert len(list((written / "train-jpg").glob("*.jpg"))) == COUNT
    assert len(list((written / "train-mask").glob("*.png"))) == COUNT
    manifest = json.loads((written / "dataset.json").read_text())
    assert manifest["kind"] == "synthetic" and manifest["count"] == COUNT and manifest["seed"] == SEED
    assert manifest["road_fraction"] == 0.5 and manifest["size"] == 96 and manifest["generator_version"]


def test_loader_reads_back_tags_masks_and_names(written: Path) -> None:
    tiles = load_planet(written, labels=ALL_PLANET_TAGS, cache=False)
    assert tiles.names == [f"train_{i}" for i in range(COUNT)]
    assert tiles.masks is not None
    road = ALL_PLANET_TAGS.index("road")
    for i in range(COUNT):
        tile = make_tile(SEED, i)
        expected = [float(tag in tile.tags) for tag in ALL_PLANET_TAGS]
        assert tiles.targets[i].tolist() == expected
        assert np.array_equal(tiles.masks[i].numpy(), tile.road_mask)
        assert tiles.masks[i].any().item() == bool(tiles.targets[i, road])
        # JPEG at quality 90 changes pixels a little, never a lot
        error = np.abs(tiles.images[i].numpy().transpose(1, 2, 0).astype(int) - tile.image.astype(int))
        assert error.mean() < 4


def test_files_do_not_depend_on_the_number_of_workers(written: Path, tmp_path: Path) -> None:
    parallel = write_dataset(tmp_path, COUNT, SEED, SyntheticConfig(), workers=2, chunk=5)
    assert (parallel / "train_v2.csv").read_bytes() == (written / "train_v2.csv").read_bytes()
    for name in ("train_0", f"train_{COUNT - 1}"):
        assert (parallel / "train-jpg" / f"{name}.jpg").read_bytes() == (
            written / "train-jpg" / f"{name}.jpg"
        ).read_bytes()
        assert (parallel / "train-mask" / f"{name}.png").read_bytes() == (
            written / "train-mask" / f"{name}.png"
        ).read_bytes()
