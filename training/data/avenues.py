"""Generator version 3: tree-lined country roads, and the tree rows along ditches and tracks that are not roads.

At 10 m (Sentinel-2) and at Planet's 3-5 m a country road is often seen less by its own pale line than by the
rows of trees on either side of it (the avenues of northern Europe, the forest edges along a cleared road in the
Amazon). A hedgerow, a tree-lined ditch or two hedges along a field boundary look almost the same: what tells them
apart is the light line *between* the rows. Version 3 draws both, the road with its trees on road tiles and the
double tree row with nothing lifted between on road and road-free tiles alike.
"""

from __future__ import annotations

import numpy as np

from training.data.paint import BoolArray, FloatArray, variable_stroke
from training.data.scene import (
    DARK_WATER,
    HEDGE,
    MIN_VISIBLE_ROAD,
    Canvas,
    paint_road_along,
    road_path,
    road_width,
)


def normals(path: FloatArray) -> FloatArray:
    """Unit normals of a polyline, one per point (from the tangent of its neighbours)."""
    tangent = np.gradient(path.astype(np.float64), axis=0)
    length = np.linalg.norm(tangent, axis=1, keepdims=True)
    tangent /= np.maximum(length, 1e-6)
    return np.stack([-tangent[:, 1], tangent[:, 0]], axis=1).astype(np.float32)


def tree_row(cv: Canvas, path: FloatArray, offset: float, crown: float, spacing: float) -> BoolArray:
    """Round crowns of about ``crown`` px along ``path`` shifted sideways by ``offset``, one every ``spacing`` px."""
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    stops = np.arange(float(cv.rng.uniform(0, spacing)), float(along[-1]), spacing)
    if len(stops) == 0:
        return np.zeros((cv.size, cv.size), dtype=np.bool_)
    across = normals(path)
    centre = np.stack([np.interp(stops, along, path[:, k]) for k in (0, 1)], axis=1)
    side = np.stack([np.interp(stops, along, across[:, k]) for k in (0, 1)], axis=1)
    jitter = cv.rng.normal(0.0, 0.25 * crown, (len(stops), 1))
    points = (centre + side * (offset + jitter)).astype(np.float32)
    widths = (crown * cv.rng.uniform(0.8, 1.25, len(stops))).astype(np.float32)
    return variable_stroke(cv.size, points, widths)


def _rows(cv: Canvas, path: FloatArray, half_gap: float) -> BoolArray:
    """One or two rows of trees (both sides 65 % of the time), touching or spaced, ``half_gap`` px off the path."""
    crown = float(cv.rng.uniform(1.5, 3.5)) * cv.scale
    spacing = crown * float(cv.rng.choice([0.7, 1.0, 1.6, 2.5]))
    offset = half_gap + crown / 2
    sides = [1.0, -1.0] if cv.rng.random() < 0.65 else [float(cv.rng.choice([1.0, -1.0]))]
    trees = np.zeros((cv.size, cv.size), dtype=np.bool_)
    for sign in sides:
        trees |= tree_row(cv, path, sign * offset, crown, spacing)
    return trees


def _paint_trees(cv: Canvas, trees: BoolArray) -> None:
    cv.fill(trees, np.asarray(HEDGE, dtype=np.float32) * float(cv.rng.uniform(0.7, 1.4)), texture=0.12)


def paint_avenue(cv: Canvas, min_contrast: float) -> BoolArray:
    """A country road with trees along it; returns the road pixels the crowns leave visible.

    The crowns stand clear of the road, or (30 %) overhang its edges, never hiding more than 40 % of it.
    """
    width = road_width(cv)
    path = road_path(cv)
    road = paint_road_along(cv, path, width, min_contrast)
    overhang = cv.rng.random() < 0.3
    if overhang:
        half_gap = width / 2 - float(cv.rng.uniform(0.0, 0.6)) * width
    else:
        half_gap = width / 2 + float(cv.rng.uniform(0.3, 1.5)) * cv.scale
    trees = _rows(cv, path, half_gap)
    if not overhang or (road & ~trees).sum() < MIN_VISIBLE_ROAD * road.sum():
        trees &= ~road
    _paint_trees(cv, trees)
    return road & ~trees


def paint_tree_rows(cv: Canvas) -> bool:
    """Two rows of trees along a hedge line or a ditch, with no road between them (a look-alike of an avenue).

    Between the rows lies whatever was there (a strip of the field), or a dark ditch (30 %): never a lifted line.
    """
    path = road_path(cv)
    half_gap = float(cv.rng.uniform(0.5, 2.5)) * cv.scale
    if cv.rng.random() < 0.3:
        ditch = variable_stroke(cv.size, path, np.full(len(path), max(1.0, half_gap), dtype=np.float32))
        cv.fill(ditch, cv.colour(DARK_WATER) * float(cv.rng.uniform(0.9, 1.5)), texture=0.05)
    _paint_trees(cv, _rows(cv, path, half_gap))
    return True
