"""Things on real tiles that look like roads and are not: breakwaters, beaches and shorelines, ravines, hedgerows
and field boundaries, braided river beds.

Drawn on road tiles and road-free tiles alike (independently of the label), so the network must learn what tells
them from a road: a breakwater is a thin light line with water on both sides, a beach follows a shore, a ravine
is dark and wiggles, a hedgerow is dark and sits on a field edge, a river bed is wide and braided.
"""

from __future__ import annotations

import numpy as np

from training.data.paint import BoolArray, blob, edge_point, meander, stroke, value_noise, variable_stroke
from training.data.scene import DARK_WATER, EARTH, GREY, HEDGE, MIN_VISIBLE_ROAD, Canvas

SAND = [(0.80, 0.76, 0.64), (0.86, 0.83, 0.74), (0.74, 0.70, 0.60)]
GRAVEL = [(0.82, 0.82, 0.80), (0.88, 0.87, 0.84), (0.76, 0.75, 0.72)]


def paint_lake(cv: Canvas, road: BoolArray) -> BoolArray:
    """A large water body behind a straight or wavy shore, maybe a beach, breakwaters and boats.

    Drawn over the road, if any (a road never crosses it: a thin line over water is a breakwater here); when it
    would hide more than 40 % of the road nothing is drawn. Returns the water (empty when nothing was drawn).
    """
    size, rng = cv.size, cv.rng
    side = int(rng.integers(4))
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    across = [y, size - 1 - x, size - 1 - y, x][side]
    wave = 0.0 if rng.random() < 0.5 else 6 * cv.scale * (value_noise(rng, size, 3, octaves=2) - 0.5)
    shore_at = float(rng.uniform(0.15, 0.95)) * size
    water = across + wave < shore_at
    if road.any() and (road & ~water).sum() < MIN_VISIBLE_ROAD * road.sum():
        return np.zeros_like(water)
    cv.fill(water, cv.colour(DARK_WATER) * float(rng.uniform(0.9, 1.6)), texture=0.02)
    cv.cleared |= water
    if rng.random() < 0.4:  # a beach along the shore: a light band, wider and less even than a road
        beach = ~water & ~road & (across + wave < shore_at + float(rng.uniform(3, 8)) * cv.scale)
        cv.fill(beach, cv.colour(SAND), texture=0.06)
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 3))):
            p0, p2 = edge_point(rng, size, int(rng.integers(4))), edge_point(rng, size, int(rng.integers(4)))
            line = stroke(size, np.asarray([p0, p2], dtype=np.float32), max(1, round(cv.scale))) & water
            cv.fill(line, cv.colour(GREY) * float(rng.uniform(1.0, 1.25)), texture=0.03)
    boats = water & (rng.random((size, size)) < 0.0015)
    cv.fill(boats, np.asarray((0.9, 0.9, 0.9), dtype=np.float32), texture=0.0)
    return water


def paint_ravines(cv: Canvas) -> bool:
    """Dark, thin, wiggling gullies cut into hillsides."""
    for _ in range(int(cv.rng.integers(1, 4))):
        centre = meander(cv.rng, cv.size, step=1.5 * cv.scale)
        widths = np.clip(cv.rng.uniform(1.5, 4.0) * (1 + 0.4 * cv.rng.standard_normal(len(centre))), 1, None)
        mask = variable_stroke(cv.size, centre, (widths * cv.scale).astype(np.float32))
        cv.fill(mask, cv.colour(DARK_WATER) * float(cv.rng.uniform(0.6, 1.2)), texture=0.05)
    return True


def paint_hedgerows(cv: Canvas) -> bool:
    """Dark tree lines and faint boundaries along a rotated field grid (field edges that are not roads)."""
    size, rng = cv.size, cv.rng
    angle = float(rng.uniform(0, np.pi))
    du, dv = (float(rng.uniform(14, 40)) * cv.scale for _ in range(2))
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    u = x * np.cos(angle) + y * np.sin(angle)
    v = -x * np.sin(angle) + y * np.cos(angle)
    width = max(1.0, float(rng.uniform(1.0, 2.5)) * cv.scale)
    lines = (np.mod(u, du) < width) | (np.mod(v, dv) < width)
    lines &= blob(rng, size, 2, float(rng.uniform(0.4, 1.0)))
    if rng.random() < 0.7:
        cv.fill(lines, np.asarray(HEDGE, dtype=np.float32) * float(rng.uniform(0.8, 1.3)), texture=0.1)
    else:  # a faint boundary a shade off the fields either side
        shade = float(rng.choice([0.9, 1.08]))
        cv.rgb[lines] = cv.rgb[lines] * shade
    return True


def paint_riverbed(cv: Canvas) -> bool:
    """A wide, pale gravel bed with braided darker channels: light like a road, but wide and uneven."""
    centre = meander(cv.rng, cv.size, step=1.5 * cv.scale)
    base = float(cv.rng.uniform(14, 34)) * cv.scale
    widths = base * (1 + 0.25 * np.sin(np.linspace(0, 6, len(centre)) + cv.rng.uniform(0, 6)))
    bed = variable_stroke(cv.size, centre, widths.astype(np.float32))
    cv.fill(bed, cv.colour(GRAVEL), texture=0.08)
    for _ in range(int(cv.rng.integers(2, 5))):
        offset = cv.rng.normal(0, base / 5, 2)
        channel = variable_stroke(
            cv.size, centre + offset.astype(np.float32), np.full(len(centre), 2.0 * cv.scale, dtype=np.float32)
        )
        cv.fill(channel & bed, cv.colour(EARTH) * 0.7, texture=0.05)
    cv.cleared |= bed
    return True
