"""Reading a scene out of its package and cutting it into named tiles.

A tile is named ``<scene>_<row>_<col>`` (evaluation grid) or ``<scene>_t<row>_<col>`` (the tune region's
half-overlapping grid); the names are what ``labels.csv`` refers to, so they must never change meaning.
"""

from __future__ import annotations

import io
import json
import math
import tarfile
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
    layered = decode_bands(data, scene)
    if layered is not None:
        return layered
    image = Image.open(io.BytesIO(data))
    if scene.reading == "gray8":
        return np.asarray(image.convert("L"), dtype=np.uint8)
    if scene.reading == "rgb8":
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    if scene.reading == "gray16":
        return stretch(np.asarray(image, dtype=np.float32), 1.0, 99.0, scene.nodata)
    if scene.reading == "rgbn8":
        bands = np.asarray(image, dtype=np.float32)[..., :3]  # Pillow reads R, G, B and drops the 4th (NIR)
        return np.dstack([stretch(bands[..., i], 0.5, 99.5) for i in range(3)])
    raise ValueError(f"unknown reading {scene.reading!r}")


def decode_bands(data: bytes, scene: Scene) -> UInt8Array | None:
    """The readings whose member is not one image: ``s2json`` and ``bands16`` (None for the others)."""
    if scene.reading == "s2json":
        blue, green, red = np.asarray(json.loads(data), dtype=np.float32)[:3]  # bands B02, B03, B04 (then B08)
        return np.dstack([stretch(band, 0.5, 99.5) for band in (red, green, blue)])
    if scene.reading == "bands16":
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            return stack_bands([_tar_file(tar, name) for name in scene.bands])
    return None


def stack_bands(files: list[bytes], percentiles: tuple[float, float] = (0.5, 99.5)) -> UInt8Array:
    """One colour image from single-band files (red, green, blue), each stretched between two percentiles."""
    bands = [np.asarray(Image.open(io.BytesIO(data)), dtype=np.float32) for data in files]
    return np.dstack([stretch(band, *percentiles) for band in bands])


def _tar_file(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    if handle is None:
        raise ValueError(f"{name} is not a file in the archive")
    return handle.read()


def decode_mask(data: bytes) -> NDArray[np.bool_]:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.uint8) > 127


def stretch(
    values: NDArray[np.float32], low: float, high: float, nodata: int | None = None, rounded: bool = True
) -> UInt8Array:
    """Linear stretch of the scene between two of its percentiles to 0-255, rounded (else truncated) to 8 bits.

    With ``nodata``, the percentiles come from the imaged pixels only and those land on 1-255, so that a tile's
    no-data share can still be told after the stretch (a dark field must not read as outside the image).
    """
    imaged = values != nodata if nodata is not None else np.ones(values.shape, dtype=bool)
    lo, hi = np.percentile(values[imaged], [low, high])
    scaled = np.clip((values - lo) / max(float(hi - lo), 1e-6) * 255.0 + (0.5 if rounded else 0.0), 0, 255)
    if nodata is None:
        return scaled.astype(np.uint8)
    return np.where(imaged, np.maximum(scaled, 1), nodata).astype(np.uint8)


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
    """The scene's grid (in ``scene.split``) above ``tune_from_y``, and the tune tiles below it (half-overlapping)."""
    size = min(scene.tile_px, height, width)
    eval_height = scene.tune_from_y if scene.tune_from_y is not None else height
    if scene.stride_m is None:
        xs, ys = positions(width, size, size), positions(eval_height, size, size)
    else:
        stride = round(scene.stride_m / scene.metres_per_pixel)
        xs, ys = spread_positions(width, size, stride), spread_positions(eval_height, size, stride)
    mark = "t" if scene.split == "tune" else ""
    for row, y in enumerate(ys):
        for col, x in enumerate(xs):
            yield Tile(f"{scene.name}_{mark}{row}_{col}", scene.name, x, y, size, scene.split)
    if scene.tune_from_y is not None:
        step = round(scene.tune_stride_m / scene.metres_per_pixel) if scene.tune_stride_m else size // 2
        for row, y in enumerate(positions(height - scene.tune_from_y, size, step)):
            for col, x in enumerate(positions(width, size, step)):
                yield Tile(f"{scene.name}_t{row}_{col}", scene.name, x, scene.tune_from_y + y, size, "tune")


def cut(pixels: UInt8Array, tile: Tile) -> UInt8Array:
    return pixels[tile.y : tile.y + tile.size, tile.x : tile.x + tile.size].copy()


def has_nodata(pixels: UInt8Array, scene: Scene) -> bool:
    """More than 2 % of the tile outside the imaged area (all bands at the no-data value)."""
    if scene.nodata is None:
        return False
    outside = pixels == scene.nodata if pixels.ndim == 2 else np.all(pixels == scene.nodata, axis=-1)
    return float(outside.mean()) > MAX_NODATA_SHARE
