"""Drawing primitives for the synthetic tiles: noise fields, blobs, curves and rasterised strokes.

Everything works on float32 arrays of shape H x W (masks and noise) or H x W x 3 (colour) and takes the
caller's ``numpy.random.Generator``, so a tile stays a pure function of its seed. Speed comes from drawing
noise on small grids and upsampling them (one PIL resize each) and from letting PIL rasterise strokes.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]
Points = list[tuple[float, float]]


@lru_cache(maxsize=64)
def _interpolation(cells: int, size: int) -> FloatArray:
    """The size x cells matrix of PIL's bicubic resampling (it is separable, so one matrix per axis)."""
    eye = Image.fromarray(np.eye(cells, dtype=np.float32))
    return np.asarray(eye.resize((size, cells), Image.Resampling.BICUBIC), dtype=np.float32).T.copy()


def upsample(grid: FloatArray, size: int) -> FloatArray:
    """Bicubic upsampling of a small square grid to size x size.

    Small grids go through two tiny matrix products (no PIL round trip); larger ones through PIL, because
    the BLAS would start threads for them, and those threads fight the other worker processes for cores.
    """
    if grid.shape[0] > 32:
        return np.asarray(Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    m = _interpolation(grid.shape[0], size)
    return (m @ grid @ m.T).astype(np.float32, copy=False)


def value_noise(rng: np.random.Generator, size: int, cells: int, octaves: int = 3) -> FloatArray:
    """Multi-octave value noise in roughly [0, 1]: octave k has ``cells * 2**k`` cells and half the amplitude."""
    total = np.zeros((size, size), dtype=np.float32)
    amplitude, norm = 1.0, 0.0
    for k in range(octaves):
        n = min(cells * 2**k, size)
        total += amplitude * upsample(rng.random((n, n), dtype=np.float32), size)
        norm += amplitude
        amplitude *= 0.5
    return total / norm


def level(noise: FloatArray, coverage: float) -> float:
    """The value that ``coverage`` of the noise lies above (a partial sort: np.quantile costs 3x more)."""
    k = min(int((1.0 - coverage) * noise.size), noise.size - 1)
    return float(np.partition(noise.ravel(), k)[k])


def blob(rng: np.random.Generator, size: int, cells: int, coverage: float) -> BoolArray:
    """Organic blobs covering about ``coverage`` of the tile: thresholded low-frequency noise."""
    noise = value_noise(rng, size, cells, octaves=2)
    return noise > level(noise, coverage)


def soft_blob(rng: np.random.Generator, size: int, cells: int, coverage: float, edge: float) -> FloatArray:
    """Like :func:`blob` but with a soft edge of ``edge`` noise units: the alpha of a cloud."""
    noise = value_noise(rng, size, cells, octaves=3)
    threshold = level(noise, coverage)
    return np.clip((noise - threshold) / edge + 0.5, 0.0, 1.0).astype(np.float32)


def edge_point(rng: np.random.Generator, size: int, side: int) -> tuple[float, float]:
    """A random point on one side of the tile (0 top, 1 right, 2 bottom, 3 left), slightly outside it."""
    t = float(rng.uniform(0.1, 0.9)) * size
    lo, hi = -2.0, size + 1.0
    return [(t, lo), (hi, t), (t, hi), (lo, t)][side]


def bezier(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], n: int) -> FloatArray:
    """n points of the quadratic Bezier curve p0 -> p2 pulled towards p1: a smooth, gently curved path."""
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None]
    a, b, c = (np.asarray(p, dtype=np.float32) for p in (p0, p1, p2))
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * b + t**2 * c


def meander(rng: np.random.Generator, size: int, step: float) -> FloatArray:
    """A river centreline crossing the tile: a straight axis plus two random sinusoids of large amplitude."""
    side = int(rng.integers(4))
    start = np.asarray(edge_point(rng, size, side), dtype=np.float32)
    end = np.asarray(edge_point(rng, size, (side + int(rng.integers(1, 4))) % 4), dtype=np.float32)
    length = float(np.linalg.norm(end - start)) + 1e-3
    n = max(int(length / step), 8)
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None]
    normal = np.asarray([start[1] - end[1], end[0] - start[0]], dtype=np.float32) / length
    wiggle = np.zeros_like(t)
    for _ in range(2):
        amp = rng.uniform(0.06, 0.16) * size
        wiggle += amp * np.sin(2 * np.pi * rng.uniform(0.7, 2.2) * t + rng.uniform(0, 2 * np.pi))
    return start + t * (end - start) + wiggle * normal


def stroke(size: int, points: FloatArray, width: int) -> BoolArray:
    """Rasterise a polyline of constant width; the returned mask is exactly the painted pixels."""
    canvas = Image.new("1", (size, size), 0)
    flat = [(float(x), float(y)) for x, y in points]
    ImageDraw.Draw(canvas).line(flat, fill=1, width=width, joint="curve")
    if width > 2:  # PIL leaves the line ends square-cut and unrounded; round caps hide that
        draw = ImageDraw.Draw(canvas)
        r = width / 2 - 0.5
        for x, y in (flat[0], flat[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=1)
    return np.array(canvas, dtype=np.bool_)


def variable_stroke(size: int, points: FloatArray, widths: FloatArray) -> BoolArray:
    """Rasterise a path whose width changes along it, as a chain of overlapping discs."""
    canvas = Image.new("1", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for (x, y), w in zip(points.tolist(), widths.tolist(), strict=True):
        r = w / 2
        draw.ellipse((x - r, y - r, x + r, y + r), fill=1)
    return np.array(canvas, dtype=np.bool_)


def polygons(size: int, shapes: list[list[float]], fills: list[int]) -> NDArray[np.uint8]:
    """Rasterise filled polygons, each a flat [x0, y0, x1, y1, ...] list, into an id map (0 = none)."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for shape, fill in zip(shapes, fills, strict=True):
        draw.polygon(shape, fill=fill)
    return np.array(canvas, dtype=np.uint8)


def rectangles(size: int, boxes: list[tuple[float, float, float, float]], fills: list[int]) -> NDArray[np.uint8]:
    """Rasterise axis-aligned filled boxes (x0, y0, x1, y1) into an id map (0 = none)."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for box, fill in zip(boxes, fills, strict=True):
        draw.rectangle(box, fill=fill)
    return np.array(canvas, dtype=np.uint8)
