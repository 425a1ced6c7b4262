"""Roads as real 0.8-1 km tiles show them: street grids through built-up blocks, and streets lined with houses.

Both painters return exactly the street pixels they drew (the road mask). Streets are 1-2 px at 96 px, lighter or
darker than the roofs and trees between them by a random, often small, margin: on real panchromatic tiles a
street grid reads as a lattice of thin lines through a busy texture, not as one bright stroke.
"""

from __future__ import annotations

import numpy as np

from training.data.paint import BoolArray, FloatArray, bezier, blob, edge_point, stroke, value_noise
from training.data.scene import EARTH, GREY, LUMA, PASTURE, RUST, Canvas

ROOF = GREY + RUST + [(0.85, 0.84, 0.80), (0.35, 0.34, 0.33)]
TREE = (0.14, 0.20, 0.13)


def _blocks(cv: Canvas, area: BoolArray) -> None:
    """Built-up texture inside ``area``: roofs, yards and trees a few pixels across, high contrast."""
    size = cv.size
    roofs = cv.colours(ROOF, 8)
    cells = max(int(size / (2.2 * cv.scale)), 8)
    choice = (value_noise(cv.rng, size, cells, octaves=1) * 8).astype(np.int64).clip(0, 7)
    texture = roofs[choice] * (0.85 + 0.3 * value_noise(cv.rng, size, cells, octaves=1))[:, :, None]
    trees = value_noise(cv.rng, size, max(cells // 2, 4), octaves=2) > float(cv.rng.uniform(0.45, 0.75))
    texture[trees] = np.asarray(TREE, dtype=np.float32) * (0.8 + 0.4 * cv.rng.random())
    yard = cv.colour(PASTURE if cv.rng.random() < 0.5 else EARTH)
    mix = float(cv.rng.uniform(0.0, 0.4))
    texture = texture * (1 - mix) + yard[None, None, :] * mix
    idx = np.flatnonzero(area)
    cv.paint(idx, texture.reshape(-1, 3)[idx].astype(np.float32))
    cv.cleared |= area


def _street_colour(cv: Canvas, under: FloatArray) -> FloatArray:
    """A grey street colour lighter (75 %) or darker than the median of what it crosses by 0.06-0.22."""
    colour = cv.colour(GREY)
    base = float(np.median(under @ LUMA)) if len(under) else 0.4
    margin = float(cv.rng.uniform(0.06, 0.22)) * (1 if cv.rng.random() < 0.75 else -1)
    return np.clip(colour + (base + margin - float(LUMA @ colour)), 0.03, 0.97).astype(np.float32)


def paint_grid_town(cv: Canvas) -> BoolArray:
    """A rotated street grid (blocks 6-16 px, some streets missing) over a built-up area covering most of the tile."""
    size, rng = cv.size, cv.rng
    area = blob(rng, size, 2, float(rng.uniform(0.55, 1.0)))
    _blocks(cv, area)
    angle = float(rng.uniform(0, np.pi))
    du, dv = (float(rng.uniform(6, 16)) * cv.scale for _ in range(2))
    width = max(1, round(float(rng.choice([1, 1, 2])) * cv.scale))
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) - size / 2
    u = x * np.cos(angle) + y * np.sin(angle) + float(rng.uniform(0, du))
    v = -x * np.sin(angle) + y * np.cos(angle) + float(rng.uniform(0, dv))
    on_u = np.mod(u, du) < width
    on_v = np.mod(v, dv) < width
    # drop some streets whole, so the grid is irregular like a real one
    keep_u = rng.random(int(size * 2 / du) + 4) > 0.2
    keep_v = rng.random(int(size * 2 / dv) + 4) > 0.2
    on_u &= keep_u[(np.floor_divide(u, du).astype(np.int64) + 2) % len(keep_u)]
    on_v &= keep_v[(np.floor_divide(v, dv).astype(np.int64) + 2) % len(keep_v)]
    streets = (on_u | on_v) & area
    if rng.random() < 0.5:  # an arterial road or highway across the town
        p0, p2 = edge_point(rng, size, 0), edge_point(rng, size, 2)
        p1 = ((p0[0] + p2[0]) / 2, (p0[1] + p2[1]) / 2)
        streets |= stroke(size, bezier(p0, p1, p2, 24), max(2, round(float(rng.uniform(2, 4)) * cv.scale)))
    cv.fill(streets, _street_colour(cv, cv.rgb[streets]), texture=0.04)
    return streets


def paint_lined_streets(cv: Canvas) -> BoolArray:
    """Two to five gently curved streets with houses along both sides (a suburb or a village street)."""
    size, rng = cv.size, cv.rng
    streets = np.zeros((size, size), dtype=np.bool_)
    houses = np.zeros((size, size), dtype=np.bool_)
    for _ in range(int(rng.integers(2, 6))):
        side = int(rng.integers(4))
        p0, p2 = edge_point(rng, size, side), edge_point(rng, size, (side + int(rng.integers(1, 4))) % 4)
        bend = rng.normal(0, 0.25, 2) * size
        p1 = ((p0[0] + p2[0]) / 2 + bend[0], (p0[1] + p2[1]) / 2 + bend[1])
        path = bezier(p0, (float(p1[0]), float(p1[1])), p2, 48)
        streets |= stroke(size, path, max(1, round(float(rng.choice([1, 2])) * cv.scale)))
        houses |= stroke(size, path, max(5, round(float(rng.uniform(6, 9)) * cv.scale)))
    lots = houses & ~streets
    _blocks(cv, lots & (rng.random((size, size)) < 0.85))
    cv.fill(streets, _street_colour(cv, cv.rgb[lots]), texture=0.04)
    cv.cleared |= streets
    return streets
