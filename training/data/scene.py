"""The ground layers of a synthetic tile: canopy, fields, clearings, bare ground, rivers, houses and roads.

Each painter draws one kind of land cover onto a :class:`Canvas` and says whether it drew anything. Road
colours come from the same palettes as bare ground, fields, muddy rivers and roofs, so a colour histogram
cannot tell a road tile from a tile with a small bare patch: only the road's *shape* (thin, uniform width,
smooth, crossing the tile, lighter than what it crosses) gives it away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from training.data.paint import (
    BoolArray,
    FloatArray,
    bezier,
    blob,
    edge_point,
    level,
    meander,
    polygons,
    rectangles,
    stroke,
    value_noise,
    variable_stroke,
)

Colour = tuple[float, float, float]
CANOPY: list[Colour] = [(0.13, 0.20, 0.13), (0.16, 0.23, 0.14), (0.12, 0.19, 0.15), (0.18, 0.25, 0.16)]
PASTURE: list[Colour] = [(0.33, 0.42, 0.25), (0.40, 0.46, 0.28), (0.28, 0.38, 0.22), (0.46, 0.48, 0.32)]
# Tan, orange and pinkish soils: dirt roads, bare ground, ploughed fields and muddy rivers all draw from here.
EARTH: list[Colour] = [
    (0.62, 0.52, 0.40),
    (0.70, 0.56, 0.42),
    (0.66, 0.46, 0.32),
    (0.72, 0.62, 0.50),
    (0.58, 0.44, 0.34),
    (0.68, 0.58, 0.52),
]
# Concrete, asphalt and metal roofs: paved roads and houses share these.
GREY: list[Colour] = [(0.55, 0.55, 0.54), (0.63, 0.63, 0.61), (0.72, 0.71, 0.69), (0.82, 0.82, 0.80)]
RUST: list[Colour] = [(0.60, 0.36, 0.26), (0.55, 0.32, 0.25), (0.66, 0.42, 0.30)]
DARK_WATER: list[Colour] = [(0.10, 0.14, 0.15), (0.13, 0.17, 0.16), (0.16, 0.20, 0.22)]
HEDGE: Colour = (0.10, 0.16, 0.10)
ROAD_WIDTHS = (1, 2, 2, 3, 3, 4)  # at 96 px; scaled with the tile size
MIN_VISIBLE_ROAD = 0.6  # share of a road's pixels that whatever is drawn over it (cloud, lake, crowns) leaves visible
MIN_ROAD_CONTRAST = 0.18  # luminance a road keeps above the ground it crosses, so it stays visible under haze
LUMA = np.asarray([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass
class Canvas:
    """The tile being painted: RGB in [0, 1], what has been cleared of forest, and a shared grain texture."""

    rng: np.random.Generator
    size: int
    rgb: FloatArray
    cleared: BoolArray
    grain: FloatArray

    @property
    def scale(self) -> float:
        return self.size / 96.0

    def colour(self, palette: list[Colour]) -> FloatArray:
        """A palette colour with a little per-channel jitter, so no colour is exactly repeated."""
        return self.colours(palette, 1)[0]

    def colours(self, palette: list[Colour], n: int) -> FloatArray:
        """n jittered colours drawn from the palette (n x 3)."""
        base = np.asarray(palette, dtype=np.float32)[self.rng.integers(len(palette), size=n)]
        return base * self.rng.normal(1.0, 0.04, (n, 3)).astype(np.float32)

    def fill(self, mask: BoolArray, colour: FloatArray, texture: float) -> None:
        """Paint ``mask`` with ``colour``, modulated by the grain so flat areas do not look synthetic."""
        idx = np.flatnonzero(mask)
        shade = 1.0 + texture * self.grain.ravel()[idx]
        self.paint(idx, colour[None, :] * shade[:, None])

    def paint(self, idx: NDArray[np.intp], colours: FloatArray) -> None:
        """Set the pixels at flat indices ``idx`` to ``colours`` (K x 3).

        Flat indices into an N x 3 view are about twice as fast as a boolean mask on the H x W x 3 array.
        """
        self.rgb.reshape(-1, 3)[idx] = colours


def paint_canopy(cv: Canvas) -> None:
    """Rainforest: dark green tree crowns (a few px) over slow large-scale tone changes."""
    crowns = value_noise(cv.rng, cv.size, max(cv.size // 3, 4), octaves=1)
    relief = value_noise(cv.rng, cv.size, 3, octaves=2)
    shade = 0.62 + 0.55 * crowns + 0.35 * (relief - 0.5) + 0.05 * cv.grain
    cv.rgb[:] = cv.colour(CANOPY)[None, None, :] * shade[:, :, None]


def _field_grid(cv: Canvas) -> tuple[list[list[float]], float]:
    """Quadrilateral fields on a randomly rotated grid that covers the whole tile (flat x, y lists for PIL)."""
    angle = float(cv.rng.uniform(0, np.pi))
    du, dv = (float(cv.rng.uniform(14, 40)) * cv.scale for _ in range(2))
    half = cv.size * 0.75
    u, v = np.meshgrid(np.arange(-half, half, du), np.arange(-half, half, dv))
    corners = np.stack([(u, v), (u + du, v), (u + du, v + dv), (u, v + dv)])  # 4 x 2 x rows x cols
    rotation = np.asarray([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    xy = np.einsum("ij,kjab->abki", rotation, corners) + cv.size / 2
    return xy.reshape(-1, 8).tolist(), angle


def paint_fields(cv: Canvas) -> bool:
    """Agriculture: a cleared area of pasture and soil fields, some striped by crop rows."""
    shapes, angle = _field_grid(cv)
    ids = polygons(cv.size, shapes, [i + 1 for i in range(len(shapes))])
    region = blob(cv.rng, cv.size, int(cv.rng.integers(2, 4)), float(cv.rng.uniform(0.15, 0.85))) & (ids > 0)
    n = len(shapes) + 1
    lut = np.where(cv.rng.random((n, 1)) < 0.55, cv.colours(PASTURE, n), cv.colours(EARTH, n))
    striped = cv.rng.random(n) < 0.3
    period = float(cv.rng.uniform(3.0, 6.0)) * cv.scale
    idx = np.flatnonzero(region)
    cells = ids.ravel()[idx]
    y, x = np.divmod(idx, cv.size)
    phase = (x * np.cos(angle) + y * np.sin(angle)) * (2 * np.pi / period)
    shade = np.where(striped[cells], 1.0 + 0.05 * np.sin(phase), 1.0) * (1.0 + 0.05 * cv.grain.ravel()[idx])
    cv.paint(idx, lut[cells] * shade[:, None].astype(np.float32))
    cv.cleared |= region
    return bool(region.any())


def paint_patches(cv: Canvas, palettes: list[list[Colour]], coverage: float, cells: int) -> bool:
    """Irregular patches (bare soil, small clearings) of one palette colour with a rough texture."""
    mask = blob(cv.rng, cv.size, cells, coverage)
    cv.fill(mask, cv.colour(palettes[int(cv.rng.integers(len(palettes)))]), texture=0.08)
    cv.cleared |= mask
    return bool(mask.any())


def paint_river(cv: Canvas) -> bool:
    """A river: a wide, meandering band whose width keeps changing, muddy brown or dark."""
    centre = meander(cv.rng, cv.size, step=1.5 * cv.scale)
    t = np.linspace(0, 1, len(centre), dtype=np.float32)
    base = float(cv.rng.uniform(6.5, 13.0)) * cv.scale
    swell = 0.3 * np.sin(2 * np.pi * cv.rng.uniform(1, 3) * t + cv.rng.uniform(0, 6.3))
    widths = np.maximum(base * (1 + swell + 0.12 * cv.rng.standard_normal(len(t))), 5.5 * cv.scale)
    mask = variable_stroke(cv.size, centre, widths.astype(np.float32))
    muddy = cv.rng.random() < 0.5
    colour = cv.colour(EARTH) * float(cv.rng.uniform(0.75, 0.95)) if muddy else cv.colour(DARK_WATER)
    cv.fill(mask, colour, texture=0.03)
    cv.cleared |= mask
    return True


def paint_pond(cv: Canvas) -> bool:
    """Still water: a small dark blob."""
    mask = blob(cv.rng, cv.size, 5, float(cv.rng.uniform(0.01, 0.06)))
    cv.fill(mask, cv.colour(DARK_WATER), texture=0.02)
    cv.cleared |= mask
    return True


def paint_houses(cv: Canvas) -> bool:
    """Habitation: a small cluster of grey, white and rust roofs on a cleared patch."""
    cx, cy = cv.rng.uniform(0.15, 0.85, 2) * cv.size
    spread = float(cv.rng.uniform(4, 10)) * cv.scale
    n = int(cv.rng.integers(3, 15))
    xs, ys = cx + spread * cv.rng.standard_normal(n), cy + spread * cv.rng.standard_normal(n)
    ws, hs = (cv.rng.uniform(1.5, 4.0, n) * cv.scale for _ in range(2))
    yard = rectangles(cv.size, [(cx - 1.6 * spread, cy - 1.6 * spread, cx + 1.6 * spread, cy + 1.6 * spread)], [1])
    cv.fill(yard > 0, cv.colour(EARTH if cv.rng.random() < 0.6 else PASTURE), texture=0.08)
    boxes = [(x, y, x + w, y + h) for x, y, w, h in zip(xs, ys, ws, hs, strict=True)]
    ids = rectangles(cv.size, boxes, [i + 1 for i in range(n)])
    lut = cv.colours(GREY + RUST, n + 1)
    roofs = ids > 0
    idx = np.flatnonzero(roofs)
    cv.paint(idx, lut[ids.ravel()[idx]])
    cv.cleared |= roofs | (yard > 0)
    return True


def road_path(cv: Canvas, start: tuple[float, float] | None = None) -> FloatArray:
    """A smooth road centreline from an edge (or ``start``) to another edge.

    Candidates are drawn until one runs at least 0.6 tiles (0.4 for a branch) *inside* the tile: a road that
    only clips a corner is not something anyone could label from the image.
    """
    for _ in range(20):
        side = int(cv.rng.integers(4))
        p0 = start if start is not None else edge_point(cv.rng, cv.size, side)
        p2 = edge_point(cv.rng, cv.size, (side + int(cv.rng.integers(1, 4))) % 4)
        a, b = np.asarray(p0), np.asarray(p2)
        length = max(float(np.linalg.norm(b - a)), 1e-3)
        bend = 0.0 if cv.rng.random() < 0.35 else float(cv.rng.normal(0.0, 0.22)) * length
        p1 = (a + b) / 2 + bend * np.asarray([a[1] - b[1], b[0] - a[0]]) / length
        path = bezier(p0, (float(p1[0]), float(p1[1])), p2, n=max(int(length / 2), 8))
        if inside_length(path, cv.size) >= (0.4 if start else 0.6) * cv.size:
            break
    return path


def inside_length(path: FloatArray, size: int) -> float:
    """Length of the part of a polyline that lies within the tile."""
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    inside = np.all((path >= 0) & (path <= size - 1), axis=1)
    return float(steps[inside[1:] & inside[:-1]].sum())


def paint_road(cv: Canvas, min_contrast: float = MIN_ROAD_CONTRAST) -> BoolArray:
    """A dirt or paved road 1-4 px wide, sometimes with a branch; returns exactly the painted pixels."""
    width = road_width(cv)
    return paint_road_along(cv, road_path(cv), width, min_contrast)


def road_width(cv: Canvas) -> int:
    """One of the road widths (1-4 px at 96 px), scaled with the tile."""
    return max(1, round(ROAD_WIDTHS[int(cv.rng.integers(len(ROAD_WIDTHS)))] * cv.scale))


def paint_road_along(cv: Canvas, path: FloatArray, width: int, min_contrast: float = MIN_ROAD_CONTRAST) -> BoolArray:
    """The road of :func:`paint_road` on a given centreline (maybe with a branch); returns the painted pixels."""
    mask = stroke(cv.size, path, width)
    if cv.rng.random() < 0.3:
        joint = path[int(cv.rng.integers(len(path) // 4, 3 * len(path) // 4))]
        branch_width = max(1, width - int(cv.rng.integers(0, 2)))
        mask |= stroke(cv.size, road_path(cv, (float(joint[0]), float(joint[1]))), branch_width)
    colour = cv.colour(EARTH if cv.rng.random() < 0.7 else GREY)
    # Lift the road above most of what it crosses (its 75th luminance percentile, not the mean, so it also
    # shows over the lighter fields of a mosaic): real roads read as light lines.
    gap = float(LUMA @ colour - level(cv.rgb[mask] @ LUMA, 0.25))
    if gap < min_contrast:
        colour = colour + (min_contrast - gap)
    cv.fill(mask, colour, texture=0.04)
    cv.cleared |= mask
    return mask
