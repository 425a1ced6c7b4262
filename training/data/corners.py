"""Generator version 4: roads that cut across a corner of the tile.

Versions 1-3 draw a road only when it runs at least 0.6 tiles inside the tile. The labelling protocol of the real
set (docs/real_labels.md) calls a tile a road tile when a road can be followed over about a third of it, and real
chips show many such roads: a dirt road crossing a corner of a pasture, a street clipping the edge of a field.
A model that has never seen one finds fewer of them (roadnet/4: 82.5 % of the corner roads of 3,000 fresh
version-4 tiles, 97 % of their other roads). Version 4 draws two in five of its country roads that are not
avenues across a corner, 1/3 to 0.6 tiles inside. Training on them alone cost ranking on the real set (model card,
"Tried after version 4"); version 5 (``lookalikes.py``) adds look-alikes across corners, and roadnet/5 uses it.
"""

from __future__ import annotations

import numpy as np

from training.data.paint import BoolArray, FloatArray, bezier
from training.data.scene import Canvas, inside_length, paint_road_along, road_width

CORNER_SHARE = 0.4  # of version 4's country roads (not towns, not avenues)
SHORTEST, LONGEST = 1 / 3, 0.6  # inside length, in tiles: the protocol's shortest road, versions 1-3's shortest


def corner_path(cv: Canvas) -> FloatArray:
    """A gently curved centreline in at one side and out at the next, 1/3 to 0.6 tiles of it inside the tile."""
    size = float(cv.size)
    corners = [(0.0, 0.0), (size, 0.0), (size, size), (0.0, size)]
    cx, cy = corners[int(cv.rng.integers(4))]
    inward_x, inward_y = (1.0 if cx == 0 else -1.0), (1.0 if cy == 0 else -1.0)
    for _ in range(20):
        along_x, along_y = (float(v) for v in cv.rng.uniform(0.15, 0.6, 2) * size)
        # Start and end just outside the tile, as edge_point does, so the road runs off both edges.
        p0 = np.asarray([cx + inward_x * along_x, cy - inward_y * 2.0])
        p2 = np.asarray([cx - inward_x * 2.0, cy + inward_y * along_y])
        chord = float(np.linalg.norm(p2 - p0))
        bulge = float(cv.rng.normal(0.0, 0.1)) * chord  # towards (> 0) or away from the corner
        corner = np.asarray([cx, cy])
        middle = (p0 + p2) / 2
        pull = (corner - middle) / max(float(np.linalg.norm(corner - middle)), 1e-6)
        p1 = middle + bulge * pull
        path = bezier((float(p0[0]), float(p0[1])), (float(p1[0]), float(p1[1])), (float(p2[0]), float(p2[1])), n=40)
        if SHORTEST * size <= inside_length(path, cv.size) <= LONGEST * size:
            break
    return path


def paint_corner_road(cv: Canvas, min_contrast: float) -> BoolArray:
    """A country road of any width across a corner (maybe with a branch); returns exactly the painted pixels."""
    return paint_road_along(cv, corner_path(cv), road_width(cv), min_contrast)
