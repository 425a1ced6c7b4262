"""Generator version 5: road look-alikes that cut across a corner of the tile, on road and road-free tiles alike.

Version 4 taught corner roads (a road followed over a third of the tile), and the models trained on it called
more of the real set's short light or dark lines roads: a breakwater off a shore, gullies in eroded land (model
card, "Tried after version 4"). Versions 2-4 draw their look-alikes across the whole tile, so a line that cuts a
corner was, for the network, always a road. Version 5 draws the same kinds of look-alike on the corner paths of
version 4: a gully, a breakwater in the water of a shore that cuts the corner, and a field boundary (a step in
shade, maybe with a hedge) along a straight chord; none of them is a road, so none of them is in the road mask.
"""

from __future__ import annotations

import numpy as np

from training.data.avenues import normals
from training.data.corners import corner_path
from training.data.paint import BoolArray, FloatArray, stroke, variable_stroke
from training.data.scene import DARK_WATER, GREY, HEDGE, Canvas

# chance of each look-alike on a version-5 tile, road or not (drawn before the road, so a road may cross them)
CHANCES = {"corner_gully": 0.1, "corner_breakwater": 0.08, "corner_boundary": 0.12}


def corner_side(cv: Canvas, path: FloatArray, margin: float = 0.0) -> BoolArray:
    """Pixels on the corner's side of the straight chord between ``path``'s ends, or up to ``margin`` px beyond it.

    ``corner_path`` starts off a top or bottom side and ends off the next left or right side, which fixes the
    corner it cuts off.
    """
    start, end = path[0].astype(np.float64), path[-1].astype(np.float64)
    corner = np.asarray([0.0 if end[0] < 0 else float(cv.size), 0.0 if start[1] < 0 else float(cv.size)])
    chord = end - start
    y, x = np.mgrid[0 : cv.size, 0 : cv.size].astype(np.float64)
    signed = chord[0] * (y - start[1]) - chord[1] * (x - start[0])
    towards_corner = np.sign(chord[0] * (corner[1] - start[1]) - chord[1] * (corner[0] - start[0]))
    distance = towards_corner * signed / max(float(np.linalg.norm(chord)), 1e-6)
    return np.asarray(distance > -margin)


def _chord(path: FloatArray) -> FloatArray:
    """The straight line between a corner path's two ends."""
    return np.asarray([path[0], path[-1]], dtype=np.float32)


def paint_corner_gully(cv: Canvas) -> bool:
    """A dark gully that wiggles across a corner: a ravine's look, a corner road's length."""
    path = corner_path(cv)
    along = np.linspace(0.0, 1.0, len(path), dtype=np.float32)
    phases, cycles = cv.rng.uniform(0, 2 * np.pi, 2), cv.rng.uniform(2.0, 5.0, 2)
    wiggle = sum(np.sin(2 * np.pi * c * along + p) for c, p in zip(cycles, phases, strict=True)) / 2
    amplitude = float(cv.rng.uniform(1.5, 4.0)) * cv.scale
    centre = path + normals(path) * (amplitude * wiggle)[:, None]
    widths = np.clip(cv.rng.uniform(1.5, 3.5) * (1 + 0.4 * cv.rng.standard_normal(len(path))), 1, None) * cv.scale
    mask = variable_stroke(cv.size, centre.astype(np.float32), widths.astype(np.float32))
    cv.fill(mask, cv.colour(DARK_WATER) * float(cv.rng.uniform(0.6, 1.2)), texture=0.05)
    return True


def paint_corner_breakwater(cv: Canvas) -> bool:
    """Water over a corner behind a straight shore, and a thin light breakwater across it, water on both sides."""
    path = corner_path(cv)
    water = corner_side(cv, path, margin=float(cv.rng.uniform(4.0, 10.0)) * cv.scale)
    cv.fill(water, cv.colour(DARK_WATER) * float(cv.rng.uniform(0.9, 1.6)), texture=0.02)
    cv.cleared |= water
    line = stroke(cv.size, _chord(path), max(1, round(cv.scale))) & water
    cv.fill(line, cv.colour(GREY) * float(cv.rng.uniform(1.0, 1.25)), texture=0.03)
    return True


def paint_corner_boundary(cv: Canvas) -> bool:
    """A field's corner a shade lighter or darker behind a straight edge, maybe with a hedge along the edge."""
    path = corner_path(cv)
    field = corner_side(cv, path)
    cv.rgb[field] = cv.rgb[field] * float(cv.rng.choice([0.85, 0.92, 1.08, 1.15]))
    if cv.rng.random() < 0.5:
        width = max(1, round(float(cv.rng.uniform(1.0, 2.5)) * cv.scale))
        hedge = stroke(cv.size, _chord(path), width)
        cv.fill(hedge, np.asarray(HEDGE, dtype=np.float32) * float(cv.rng.uniform(0.8, 1.3)), texture=0.1)
    return True


PAINTERS = {
    "corner_gully": paint_corner_gully,
    "corner_breakwater": paint_corner_breakwater,
    "corner_boundary": paint_corner_boundary,
}
