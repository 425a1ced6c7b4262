"""Synthetic Planet-style satellite tiles with Planet tags and a pixel-accurate road mask.

Tile ``i`` of seed ``s`` is a pure function of ``(s, i)``: it draws from ``numpy.random.default_rng([s, i])``
only, so any tile can be regenerated alone and a dataset written by several processes is byte-identical to
one written by a single process. What is drawn and why is described in ``docs/data.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from training.data import avenues, corners, distractors, lookalikes, scene, towns
from training.data.paint import BoolArray, FloatArray, soft_blob, value_noise
from training.data.scene import MIN_VISIBLE_ROAD, Canvas

VERSIONS = (1, 2, 3, 4, 5)
CLOUD: tuple[float, float, float] = (0.93, 0.94, 0.95)
HAZE: tuple[float, float, float] = (0.62, 0.65, 0.68)
CLOUDY_SHARE = 0.05  # of road-free tiles
LAYER_TAGS = {
    "fields": "agriculture",
    "clearings": "cultivation",
    "bare": "bare_ground",
    "river": "water",
    "pond": "water",
    "houses": "habitation",
    "lake": "water",
    "riverbed": "bare_ground",
    "hedgerows": "agriculture",
    "tree_rows": "agriculture",
    "corner_breakwater": "water",
    "corner_boundary": "agriculture",
}


@dataclass(frozen=True)
class SyntheticConfig:
    """What the generator may vary: the tile size, the share of tiles that carry a road, and the version.

    Version 1 is the generator of ``roadnet/1`` (unchanged, tile for tile). Version 2 adds what real tiles of
    0.8-1 km show (``towns.py``: street grids and streets lined with houses, lower-contrast roads) and what looks
    like a road there without being one (``distractors.py``), on road and road-free tiles alike. Version 3 adds
    tree-lined country roads and their look-alike, double tree rows with no road between (``avenues.py``).
    Version 4 adds country roads that cut across a corner of the tile (``corners.py``). Version 5 adds
    look-alikes across a corner (gullies, breakwaters, field boundaries: ``lookalikes.py``) to version 4.
    """

    size: int = 96
    road_fraction: float = 0.5
    version: int = 1

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ValueError(f"generator version must be one of {VERSIONS}, not {self.version}")


@dataclass(frozen=True)
class Tile:
    """One generated tile: RGB uint8 H x W x 3, its Planet tags (sorted) and its road mask (bool H x W).

    ``layers`` names what was drawn, in order (e.g. "river" vs "pond", both tagged "water"), for tests and
    for picking examples.
    """

    image: NDArray[np.uint8]
    tags: tuple[str, ...]
    road_mask: BoolArray
    layers: tuple[str, ...] = ()


def make_tile(seed: int, index: int, config: SyntheticConfig | None = None) -> Tile:
    """Generate tile ``index`` of dataset ``seed``: identical bytes on every call."""
    config = config or SyntheticConfig()
    rng = np.random.default_rng([seed, index])
    has_road = bool(rng.random() < config.road_fraction)
    size = config.size
    cv = Canvas(
        rng=rng,
        size=size,
        rgb=np.empty((size, size, 3), dtype=np.float32),
        cleared=np.zeros((size, size), dtype=np.bool_),
        grain=_grain(rng, size),
    )
    layers = _paint_ground(cv)
    if config.version >= 2:
        layers += _paint_distractors(cv, config.version)
    tags = {LAYER_TAGS[layer] for layer in layers if layer in LAYER_TAGS}
    road = np.zeros((size, size), dtype=np.bool_)
    if has_road:
        road, style = _paint_road(cv, config.version)
        if style == "town":
            tags.add("habitation")
        elif style in ("avenue", "corner"):
            layers.append(style)
    if config.version >= 2 and rng.random() < 0.2:
        water = distractors.paint_lake(cv, road)
        if water.any():
            road = road & ~water
            layers.append("lake")
            tags.add("water")
    weather, road = _paint_weather(cv, road, has_road)
    layers += ["road"] * has_road + [weather]
    if weather == "cloudy":  # Planet's convention: nothing else is tagged under full cloud
        tags = set()
    elif road.any():
        tags.add("road")
    if weather != "cloudy" and (~cv.cleared).mean() > 0.05:
        tags.add("primary")
    tags.add(weather)
    return Tile(image=_to_uint8(cv), tags=tuple(sorted(tags)), road_mask=road, layers=tuple(layers))


def make_tiles(seed: int, indices: Iterable[int], config: SyntheticConfig | None = None) -> Iterator[Tile]:
    """Generate the given tiles in order (see :func:`make_tile`)."""
    for index in indices:
        yield make_tile(seed, index, config)


def _paint_ground(cv: Canvas) -> list[str]:
    """Land cover, drawn independently of whether the tile gets a road (so it says nothing about the label)."""
    rng, layers = cv.rng, []
    scene.paint_canopy(cv)
    if rng.random() < 0.45 and scene.paint_fields(cv):
        layers.append("fields")
    if rng.random() < 0.2 and scene.paint_patches(cv, [scene.PASTURE, scene.EARTH], rng.uniform(0.01, 0.06), 5):
        layers.append("clearings")
    if rng.random() < 0.5:
        coverage = float(np.exp(rng.uniform(np.log(0.004), np.log(0.3))))  # log-uniform: tiny to large
        if scene.paint_patches(cv, [scene.EARTH], coverage, int(rng.integers(3, 7))):
            layers.append("bare")
    if rng.random() < 0.25 and scene.paint_river(cv):
        layers.append("river")
    if rng.random() < 0.08 and scene.paint_pond(cv):
        layers.append("pond")
    if rng.random() < 0.25 and scene.paint_houses(cv):
        layers.append("houses")
    return layers


def _paint_distractors(cv: Canvas, version: int) -> list[str]:
    """Version 2 and later: real-world look-alikes of roads, independent of the label (version 5: across corners)."""
    rng, layers = cv.rng, []
    painters = [
        ("riverbed", 0.08, distractors.paint_riverbed),
        ("ravines", 0.15, distractors.paint_ravines),
        ("hedgerows", 0.2, distractors.paint_hedgerows),
    ]
    if version >= 3:
        painters.append(("tree_rows", 0.15, avenues.paint_tree_rows))
    if version >= 5:
        painters += [(name, lookalikes.CHANCES[name], painter) for name, painter in lookalikes.PAINTERS.items()]
    for name, chance, painter in painters:
        if rng.random() < chance and painter(cv):
            layers.append(name)
    return layers


def _paint_road(cv: Canvas, version: int) -> tuple[BoolArray, str]:
    """Version 1: one road as in roadnet/1's data. Version 2: that road at a lower contrast, or a town's streets.

    Version 3: as version 2, with trees along two in five of the country roads. Version 4: as version 3, with
    two in five of the other country roads across a corner.
    """
    if version == 1:
        return scene.paint_road(cv), "road"
    r = float(cv.rng.random())
    if r < 0.25:
        return towns.paint_grid_town(cv), "town"
    if r < 0.4:
        return towns.paint_lined_streets(cv), "town"
    min_contrast = float(cv.rng.uniform(0.08, 0.2))
    if version >= 3 and cv.rng.random() < 0.4:
        return avenues.paint_avenue(cv, min_contrast), "avenue"
    if version >= 4 and cv.rng.random() < corners.CORNER_SHARE:
        return corners.paint_corner_road(cv, min_contrast), "corner"
    return scene.paint_road(cv, min_contrast=min_contrast), "road"


def _paint_weather(cv: Canvas, road: BoolArray, has_road: bool) -> tuple[str, BoolArray]:
    """Clouds, their shadows and haze; returns the weather tag and the still-visible road pixels."""
    # Road tiles skip the cloudy band, so that apart from "cloudy" the weather is independent of the label.
    r = float(cv.rng.uniform(CLOUDY_SHARE if has_road else 0.0, 1.0))
    if r < CLOUDY_SHARE:
        _clouds(cv, soft_blob(cv.rng, cv.size, 2, float(cv.rng.uniform(0.9, 1.0)), 0.15))
        _haze(cv, float(cv.rng.uniform(0.1, 0.3)))
        return "cloudy", road
    if r < 0.28:
        for _ in range(4):  # a cloud may hide part of a road, never most of it
            alpha = soft_blob(cv.rng, cv.size, int(cv.rng.integers(2, 4)), float(cv.rng.uniform(0.08, 0.4)), 0.06)
            visible = road & (alpha < 0.5)
            if visible.sum() >= MIN_VISIBLE_ROAD * road.sum():
                _clouds(cv, alpha)
                return "partly_cloudy", visible
    if r < 0.42:
        _haze(cv, float(cv.rng.uniform(0.2, 0.45)))
        return "haze", road
    return "clear", road


def _clouds(cv: Canvas, alpha: FloatArray) -> None:
    """White clouds with puffy shading, and their shadow cast a few pixels off."""
    shift = tuple(int(v) for v in cv.rng.integers(3, 9, 2) * cv.scale)
    shadow = np.roll(alpha, shift, axis=(0, 1))
    cv.rgb *= 1.0 - 0.35 * shadow[:, :, None]
    puff = 0.9 + 0.1 * value_noise(cv.rng, cv.size, 6, octaves=2)
    cloud = np.asarray(CLOUD, dtype=np.float32)[None, None, :] * puff[:, :, None]
    cv.rgb[:] = cv.rgb * (1.0 - alpha[:, :, None]) + cloud * alpha[:, :, None]


def _haze(cv: Canvas, strength: float) -> None:
    """A veil of bright haze of uneven thickness that washes out contrast."""
    thickness = strength * (0.75 + 0.5 * value_noise(cv.rng, cv.size, 2, octaves=2))
    veil = np.asarray(HAZE, dtype=np.float32)[None, None, :]
    cv.rgb[:] = cv.rgb * (1.0 - thickness[:, :, None]) + veil * thickness[:, :, None]


def _grain(rng: np.random.Generator, size: int) -> FloatArray:
    """Per-pixel texture with zero mean and unit variance (uniform: 4x cheaper to draw than normal)."""
    return (rng.random((size, size), dtype=np.float32) - 0.5) * np.float32(12**0.5)


def _to_uint8(cv: Canvas) -> NDArray[np.uint8]:
    """Per-tile exposure and white balance, then quantise."""
    gain = cv.rng.normal(1.0, 0.05) * cv.rng.normal(1.0, 0.025, 3)
    return np.clip(cv.rgb * gain.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
