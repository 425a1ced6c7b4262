"""Tiles with and without roads, with their true road masks, for the segmentation evaluation and its calibration.

- **Evaluation** (``validation_split``): the model's own validation split, rebuilt from its manifest exactly as
  training split it (``split_indices`` on the tiles' road tags, the manifest's size and seed): read from the
  dataset folder when it is on this machine, else regenerated from the synthetic generator's seed. The first
  tiles of the split in order, as many with a road as without.
- **Calibration** (``calibration_tiles``): tiles the evaluation never sees. For a synthetic dataset, or a model
  without one, new tiles of the generator (a seed no training run uses); for a folder of the user's own tiles
  with masks, its training split.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from training.data.imaging import read_mask, read_rgb
from training.data.layout import CSV_NAME, IMAGE_DIR, MASK_DIR
from training.data.planet import find_image, read_tags
from training.data.split import split_indices
from training.data.synthetic import SyntheticConfig, make_tile
from training.explanations.results import LabelledTiles
from training.explanations.tiles import jpeg_round_trip

CALIBRATION_SEED = 20_261_126  # never a training seed, and not the CI evaluation's fresh seed either
TAG_CHUNK = 2_000


def validation_split(
    manifest: dict[str, Any], per_class: int, data: Path | None = None, free: int | None = None
) -> LabelledTiles:
    """``per_class`` road and ``per_class`` (or ``free``) road-free tiles of the model's validation split."""
    dataset = manifest.get("dataset") or {}
    size = int(manifest["input"]["height"])
    folder = data or (Path(str(dataset["path"])) if dataset.get("path") else None)
    if folder is not None and (folder / CSV_NAME).is_file() and (folder / MASK_DIR).is_dir():
        return _from_folder(folder, dataset, per_class, size, validation=True, free=free)
    if dataset.get("kind") == "synthetic" and {"count", "seed", "validation"} <= set(dataset):
        return _regenerated(dataset, per_class, size, free)
    raise SystemExit("the model's validation split is not on this machine and cannot be regenerated: pass --data")


def calibration_tiles(manifest: dict[str, Any], per_class: int, data: Path | None = None) -> LabelledTiles:
    """``per_class`` road and road-free tiles that the evaluation does not use (see the module docstring)."""
    dataset = manifest.get("dataset") or {}
    size = int(manifest["input"]["height"])
    folder = data or (Path(str(dataset["path"])) if dataset.get("path") else None)
    mine = dataset.get("kind") not in (None, "synthetic")
    if mine and folder is not None and (folder / CSV_NAME).is_file() and (folder / MASK_DIR).is_dir():
        return _from_folder(folder, dataset, per_class, size, validation=False)
    config = SyntheticConfig(size=size, road_fraction=0.5)
    tiles = ((index, make_tile(CALIBRATION_SEED, index, config)) for index in itertools.count())
    chosen = _balanced(((i, bool(t.road_mask.any())) for i, t in tiles), per_class)
    source = f"new synthetic tiles (generator seed {CALIBRATION_SEED}, never used in training or evaluation)"
    return _generated(CALIBRATION_SEED, chosen, config, source)


def _balanced(labelled: Iterable[tuple[int, bool]], per_class: int, free_count: int | None = None) -> list[int]:
    """The first ``per_class`` indices with a road and the first ``free_count`` (default the same) without, roads
    first."""
    wanted = {True: per_class, False: per_class if free_count is None else free_count}
    chosen: dict[bool, list[int]] = {True: [], False: []}
    for index, road in labelled:
        if len(chosen[road]) < wanted[road]:
            chosen[road].append(index)
        if all(len(chosen[kind]) == wanted[kind] for kind in chosen):
            break
    return chosen[True] + chosen[False]


def _road_tags(seed: int, indices: range, road_fraction: float, version: int = 1) -> list[bool]:
    config = SyntheticConfig(road_fraction=road_fraction, version=version)
    return ["road" in make_tile(seed, index, config).tags for index in indices]


def _all_road_tags(dataset: dict[str, Any]) -> np.ndarray:
    """Every tile's road tag (the split needs them all)."""
    fraction = float(dataset.get("road_fraction", 0.5))
    return _road_tags_of(int(dataset["count"]), int(dataset["seed"]), fraction, generator_version(dataset))


def generator_version(dataset: dict[str, Any]) -> int:
    """The synthetic generator that wrote the model's dataset (1 in manifests from before there was a choice)."""
    return int(dataset.get("generator_version", 1))


@functools.lru_cache(maxsize=4)
def _road_tags_of(count: int, seed: int, fraction: float, version: int) -> np.ndarray:
    """Generated in two processes (about a minute for the shipped 40,479 tiles), once per process."""
    chunks = [range(start, min(start + TAG_CHUNK, count)) for start in range(0, count, TAG_CHUNK)]
    with ProcessPoolExecutor(2) as pool:
        n = len(chunks)
        parts = pool.map(_road_tags, [seed] * n, chunks, [fraction] * n, [version] * n)
        return np.asarray([tag for part in parts for tag in part], dtype=np.float32)


def _regenerated(dataset: dict[str, Any], per_class: int, size: int, free: int | None) -> LabelledTiles:
    roads = _all_road_tags(dataset)
    _, validation = split_indices(roads, int(dataset["validation"]), int(dataset.get("split_seed", 0)))
    chosen = _balanced(((int(i), bool(roads[i])) for i in validation), per_class, free)
    fraction = float(dataset.get("road_fraction", 0.5))
    config = SyntheticConfig(size=size, road_fraction=fraction, version=generator_version(dataset))
    source = (
        f"the model's validation split ({len(validation):,} tiles, split seed {dataset.get('split_seed', 0)}), "
        f"regenerated from synthetic generator {generator_version(dataset)}, seed {dataset['seed']}"
    )
    return _generated(int(dataset["seed"]), chosen, config, source)


def _generated(seed: int, indices: list[int], config: SyntheticConfig, source: str) -> LabelledTiles:
    tiles = [make_tile(seed, index, config) for index in indices]
    return LabelledTiles(
        images=np.stack([jpeg_round_trip(t.image).transpose(2, 0, 1) for t in tiles]),
        masks=np.stack([t.road_mask for t in tiles]),
        road=np.asarray([t.road_mask.any() for t in tiles]),
        names=[f"train_{index}" for index in indices],
        source=source,
    )


def _rows(folder: Path, dataset: dict[str, Any], validation: bool) -> Iterator[tuple[str, bool]]:
    rows = read_tags(folder / CSV_NAME)
    roads = np.asarray([[float("road" in tags)] for _, tags in rows], dtype=np.float32)
    n_val = int(dataset.get("validation", 0)) or None
    train, val = split_indices(roads, n_val=n_val, seed=int(dataset.get("split_seed", 0)))
    for index in val if validation else train:
        yield rows[index][0], bool(roads[index, 0])


def _from_folder(
    folder: Path, dataset: dict[str, Any], per_class: int, size: int, validation: bool, free: int | None = None
) -> LabelledTiles:
    named = [
        (name, road)
        for name, road in _rows(folder, dataset, validation)
        if (folder / MASK_DIR / f"{name}.png").exists()
    ]
    chosen = _balanced(((i, road) for i, (_, road) in enumerate(named)), per_class, free)
    names = [named[i][0] for i in chosen]
    masks = np.stack([read_mask(folder / MASK_DIR / f"{name}.png", size) for name in names])
    split = "validation" if validation else "training"
    return LabelledTiles(
        images=np.stack([read_rgb(find_image(folder / IMAGE_DIR, name), size) for name in names]),
        masks=masks,
        road=np.asarray(masks.reshape(len(names), -1).any(axis=1)),
        names=names,
        source=f"the {split} split of `{folder}`",
    )
