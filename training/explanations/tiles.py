"""Road tiles with their masks for the explanation evaluation.

Two sources, the first that applies:

1. the model's own **validation split**: the dataset folder the manifest names (or ``--data``), split again
   with the manifest's seed and size exactly as training did (``split_indices`` on the CSV's tags), keeping
   the validation tiles tagged ``road`` whose mask file exists and is not empty;
2. **fresh tiles**: when that folder is not on this machine (a fresh clone, CI), tiles of the same synthetic
   generator with a seed training never used, through the same JPEG encoding as the written dataset.

Only road tiles are kept: the metrics ask whether a map points at the road.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from training.data.generate import JPEG_QUALITY, SUBSAMPLING
from training.data.imaging import read_mask, read_rgb
from training.data.planet import CSV_NAME, IMAGE_DIR, MASK_DIR, find_image, read_tags
from training.data.split import split_indices
from training.data.synthetic import SyntheticConfig, make_tile
from training.explanations.results import RoadTiles

FRESH_SEED = 20_261_122  # never a training seed: the tiles are new to the model


def validation_tiles(manifest: dict[str, Any], count: int, data: Path | None = None, fresh: bool = False) -> RoadTiles:
    """``count`` road tiles from the validation split if its folder exists (and not ``fresh``), else fresh tiles."""
    dataset = manifest.get("dataset", {})
    size = int(manifest["input"]["height"])
    if fresh:
        return fresh_tiles(count, size)
    folder = data or (Path(dataset["path"]) if dataset.get("path") else None)
    if folder is not None and (folder / CSV_NAME).exists() and (folder / MASK_DIR).is_dir():
        return split_tiles(folder, dataset, count, size)
    if data is not None:
        raise SystemExit(f"{data} has no {CSV_NAME} and {MASK_DIR}/: not a synthetic dataset with road masks")
    return fresh_tiles(count, size)


def split_tiles(folder: Path, dataset: dict[str, Any], count: int, size: int) -> RoadTiles:
    """The first ``count`` road tiles (with a non-empty mask) of the validation split training used."""
    rows = read_tags(folder / CSV_NAME)
    road = np.asarray([[float("road" in tags)] for _, tags in rows], dtype=np.float32)
    n_val = int(dataset.get("validation", 0)) or None
    _, val = split_indices(road, n_val=n_val, seed=int(dataset.get("split_seed", 0)))
    images: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    names: list[str] = []
    for index in val:
        name = rows[index][0]
        if road[index, 0] < 0.5 or not (folder / MASK_DIR / f"{name}.png").exists():
            continue
        mask = read_mask(folder / MASK_DIR / f"{name}.png", size)
        if mask.any():
            images.append(read_rgb(find_image(folder / IMAGE_DIR, name), size))
            masks.append(mask)
            names.append(name)
        if len(names) == count:
            break
    source = f"the validation split of `{folder}` ({len(val):,} tiles, split seed {dataset.get('split_seed', 0)})"
    return _tiles(images, masks, names, source)


def fresh_tiles(count: int, size: int, seed: int = FRESH_SEED) -> RoadTiles:
    """``count`` new road tiles of the synthetic generator (seed ``seed``), JPEG-encoded like the dataset."""
    config = SyntheticConfig(size=size, road_fraction=1.0)
    images: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    names: list[str] = []
    index = 0
    while len(names) < count:
        tile = make_tile(seed, index, config)
        if tile.road_mask.any():
            images.append(jpeg_round_trip(tile.image).transpose(2, 0, 1))
            masks.append(tile.road_mask)
            names.append(f"fresh_{seed}_{index}")
        index += 1
    return _tiles(images, masks, names, f"fresh synthetic road tiles (generator seed {seed}, never used in training)")


def jpeg_round_trip(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` (H x W x 3 uint8) after the JPEG encoding the synthetic dataset is written with."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=SUBSAMPLING)
    buffer.seek(0)
    with Image.open(buffer) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _tiles(images: list[np.ndarray], masks: list[np.ndarray], names: list[str], source: str) -> RoadTiles:
    if not images:
        raise SystemExit(f"no road tile with a mask in {source}")
    pixels = torch.from_numpy(np.stack(images)).float() / 255.0
    return RoadTiles(pixels, torch.from_numpy(np.stack(masks)), names, source)
