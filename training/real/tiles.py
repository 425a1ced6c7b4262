"""Reading a scene out of its package and cutting it into named tiles.

A tile is named ``<scene>_<row>_<col>`` (evaluation grid) or ``<scene>_t<row>_<col>`` (the tune region's
half-overlapping grid); the names are what ``labels.csv`` refers to, so they must never change meaning.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from training.real.sources import Scene

UInt8Array = NDArray[np.uint8]
MAX_NODATA_SHARE = 0.02


@dataclass(frozen=True)
class Tile:
    """A square cut of a scene: its name, top-left corner and side in scene pixels, and its split."""

    name: str
    scene: str
    x: int
    y: int
    size: int
    split: str  # "eval" or "tune"


def decode_scene(data: bytes, scene: Scene) -> UInt8Array:
    """The scene as 8-bit pixels: H x W (panchromatic) or H x W x 3 (colour), stretched as ``scene.reading`` says."""
    image = Image.open(io.BytesIO(data))
    if scene.reading == "gray8":
        return np.asarray(image.convert("L"), dtype=np.uint8)
    if scene.reading == "rgb8":
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    if scene.reading == "gray16":
        return stretch(np.asarray(image, dtype=np.float32), 1.0, 99.0)
    if scene.reading == "rgbn8":
        bands = np.asarray(image, dtype=np.float32)[..., :3]  # Pillow reads R, G, B and drops the 4th (NIR)
        return np.dstack([stretch(bands[..., i], 0.5, 99.5) for i in range(3)])
    raise ValueError(f"unknown reading {scene.reading!r}")


def decode_mask(data: bytes) -> NDArray[np.bool_]:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.uint8) > 127


def stretch(values: NDArray[np.float32], low: float, high: float) -> UInt8Array:
    """Linear stretch of the scene between two of its percentiles to 0-255."""
    lo, hi = np.percentile(values, [low, high])
    scaled = (values - lo) / max(float(hi - lo), 1e-6)
    return np.clip(scaled * 255.0 + 0.5, 0, 255).astype(np.uint8)


def positions(length: int, tile: int, stride: int) -> list[int]:
    """Tile origins along one axis: every ``stride`` from 0, the last one fitting inside ``length``."""
    if tile >= length:
        return [0]
    count = math.floor((length - tile) / stride) + 1
    return [i * stride for i in range(count)]


def spread_positions(length: int, tile: int, stride: int) -> list[int]:
    """Origins evenly spread so that the first tile starts at 0 and the last ends at ``length``."""
    if tile >= length:
        return [0]
    count = math.ceil((length - tile) / stride) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def grid(scene: Scene, height: int, width: int) -> Iterator[Tile]:
    """The evaluation tiles (above ``tune_from_y``) and the tune tiles (below it, half-overlapping)."""
    size = min(scene.tile_px, height, width)
    eval_height = scene.tune_from_y if scene.tune_from_y is not None else height
    if scene.stride_m is None:
        xs, ys = positions(width, size, size), positions(eval_height, size, size)
    else:
        stride = round(scene.stride_m / scene.metres_per_pixel)
        xs, ys = spread_positions(width, size, stride), spread_positions(eval_height, size, stride)
    for row, y in enumerate(ys):
        for col, x in enumerate(xs):
            yield Tile(f"{scene.name}_{row}_{col}", scene.name, x, y, size, "eval")
    if scene.tune_from_y is not None:
        half = size // 2
        for row, y in enumerate(positions(height - scene.tune_from_y, size, half)):
            for col, x in enumerate(positions(width, size, half)):
                yield Tile(f"{scene.name}_t{row}_{col}", scene.name, x, scene.tune_from_y + y, size, "tune")


def cut(pixels: UInt8Array, tile: Tile) -> UInt8Array:
    return pixels[tile.y : tile.y + tile.size, tile.x : tile.x + tile.size].copy()


def has_nodata(pixels: UInt8Array, scene: Scene) -> bool:
    """More than 2 % of the tile outside the imaged area (all bands at the no-data value)."""
    if scene.nodata is None:
        return False
    outside = pixels == scene.nodata if pixels.ndim == 2 else np.all(pixels == scene.nodata, axis=-1)
    return float(outside.mean()) > MAX_NODATA_SHARE
