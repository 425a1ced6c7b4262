"""A road mask's connected pieces, its skeleton and the skeleton's length. numpy and ``scipy.ndimage``, no torch.

- **Skeleton**: Zhang & Suen's thinning (1984), the two sub-iterations as lookup tables over the 8-neighbourhood
  code of every pixel, applied to the whole mask at once until nothing changes.
- **Length** of a skeleton: the sum of its links between 8-neighbours, 1 for a horizontal or vertical step and
  sqrt(2) for a diagonal one, a diagonal counted only where no horizontal-plus-vertical path joins the same two
  pixels (a staircase is not longer than its diagonal). Steps can be scaled per axis: a mask computed at the
  model's 96 x 96 measures an upload of another size, or shape, in the upload's pixels.
- **Pieces**: 8-connected components, each with its bounding box, pixel count and skeleton length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

EIGHT = np.ones((3, 3), dtype=bool)
# The 8 neighbours P2..P9 of Zhang & Suen, clockwise from north, as (row, column) offsets; bit k of a pixel's
# code is neighbour P(k+2).
NEIGHBOURS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def _removable(first: bool) -> np.ndarray:
    """Zhang-Suen's deletion test for every neighbourhood code: 256 booleans (one sub-iteration)."""
    table = np.zeros(256, dtype=bool)
    for code in range(256):
        p2, p3, p4, p5, p6, p7, p8, p9 = ((code >> k) & 1 for k in range(8))
        ring = (p2, p3, p4, p5, p6, p7, p8, p9)
        neighbours = sum(ring)
        transitions = sum(ring[k] == 0 and ring[(k + 1) % 8] == 1 for k in range(8))
        # First sub-iteration: a south-east boundary or north-west corner pixel; second: the opposite.
        first_test = p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0
        second_test = p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0
        corner = first_test if first else second_test
        table[code] = 2 <= neighbours <= 6 and transitions == 1 and corner
    return table


REMOVABLE = (_removable(first=True), _removable(first=False))


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """The Zhang-Suen skeleton of a boolean ``H x W`` mask: 1 pixel wide, 8-connected like the mask's pieces.

    The mask is held flat with a zero border, so that each neighbour is one contiguous shifted slice and only the
    mask's own pixels are looked at (a road covers a few percent of a tile).
    """
    height, width = mask.shape
    stride = width + 2
    flat = np.zeros((height + 2) * stride, dtype=np.uint8)
    flat.reshape(height + 2, stride)[1:-1, 1:-1] = mask
    offsets = np.array([dy * stride + dx for dy, dx in NEIGHBOURS], dtype=np.intp)
    bits = (np.uint8(1) << np.arange(8, dtype=np.uint8))[:, None]
    alive = np.flatnonzero(flat)
    changed = True
    while changed and alive.size:
        changed = False
        for table in REMOVABLE:
            codes = (flat[alive[None, :] + offsets[:, None]] * bits).sum(axis=0, dtype=np.uint8)
            doomed = table[codes]
            if doomed.any():
                flat[alive[doomed]] = 0
                alive = alive[~doomed]
                changed = True
    return flat.reshape(height + 2, stride)[1:-1, 1:-1].astype(bool)


def skeleton_length(skeleton: np.ndarray, scale: tuple[float, float] = (1.0, 1.0)) -> float:
    """The length of a skeleton (see the module docstring), in pixels scaled by ``scale``."""
    skeleton = np.asarray(skeleton, dtype=bool)
    return float(piece_lengths(skeleton.view(np.uint8), 1, skeleton, scale)[0])  # one "piece": the whole skeleton


@dataclass(frozen=True)
class RoadPiece:
    """One connected piece of a road mask: ``box`` = (x0, y0, x1, y1), x1 and y1 exclusive; its pixel count; its
    skeleton length in the units of ``scale``."""

    box: tuple[int, int, int, int]
    pixels: int
    length: float


def label_pieces(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected labels of a boolean mask (0 = background) and how many pieces there are."""
    labels, count = ndimage.label(mask, structure=EIGHT)
    return labels, int(count)


def piece_lengths(
    labels: np.ndarray, count: int, skeleton: np.ndarray, scale: tuple[float, float] = (1.0, 1.0)
) -> np.ndarray:
    """Each piece's skeleton length (index 0 is piece 1): a link lies inside the piece of its first pixel."""
    sy, sx = scale
    diagonal = float(np.hypot(sx, sy))
    s = skeleton
    a, b, c, d = s[:-1, :-1], s[1:, 1:], s[:-1, 1:], s[1:, :-1]
    owners = [  # (labels of the links' first pixels, each link's length)
        (labels[:, :-1][s[:, :-1] & s[:, 1:]], sx),
        (labels[:-1][s[:-1] & s[1:]], sy),
        (labels[:-1, :-1][a & b & ~c & ~d], diagonal),
        (labels[:-1, 1:][c & d & ~a & ~b], diagonal),
    ]
    lengths = np.zeros(count + 1)
    for found, step in owners:
        lengths += step * np.bincount(found, minlength=count + 1)
    return lengths[1:]


def road_pieces(mask: np.ndarray, scale: tuple[float, float] = (1.0, 1.0)) -> list[RoadPiece]:
    """Every piece of ``mask`` with its box, pixel count and skeleton length (``scale`` per row, column step)."""
    labels, count = label_pieces(mask)
    if count == 0:
        return []
    lengths = piece_lengths(labels, count, skeletonize(mask), scale)
    pixels = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    pieces = []
    for index, found in enumerate(ndimage.find_objects(labels)):
        rows, columns = found  # every label from 1 to count has a box
        box = (int(columns.start), int(rows.start), int(columns.stop), int(rows.stop))
        pieces.append(RoadPiece(box, int(pixels[index]), float(lengths[index])))
    return pieces
