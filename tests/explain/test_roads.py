"""Skeletons, skeleton lengths and road pieces (``service/explain/roads.py``): hand-computed cases and a slow,
obvious Zhang-Suen written from the paper."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.explain.roads import RoadPiece, road_pieces, skeleton_length, skeletonize
from training.data.synthetic import SyntheticConfig, make_tile


def zhang_suen_reference(mask: np.ndarray) -> np.ndarray:
    """Zhang & Suen (1984), pixel by pixel: P2..P9 clockwise from north; two sub-iterations until stable."""
    image = np.pad(mask.astype(int), 1)
    while True:
        changed = False
        for first in (True, False):
            doomed = []
            for r in range(1, image.shape[0] - 1):
                for c in range(1, image.shape[1] - 1):
                    if not image[r, c]:
                        continue
                    p = [image[r - 1, c], image[r - 1, c + 1], image[r, c + 1], image[r + 1, c + 1],
                         image[r + 1, c], image[r + 1, c - 1], image[r, c - 1], image[r - 1, c - 1]]  # fmt: skip
                    p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
                    a = sum(p[k] == 0 and p[(k + 1) % 8] == 1 for k in range(8))
                    step_one = p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0
                    step_two = p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0
                    ok = step_one if first else step_two
                    if 2 <= sum(p) <= 6 and a == 1 and ok:
                        doomed.append((r, c))
            for r, c in doomed:
                image[r, c] = 0
            changed |= bool(doomed)
        if not changed:
            return image[1:-1, 1:-1].astype(bool)


def test_the_skeleton_is_zhang_suen_on_road_masks_and_random_blobs() -> None:
    rng = np.random.default_rng(0)
    masks = [make_tile(3, i, SyntheticConfig(size=48, road_fraction=1.0)).road_mask for i in range(6)]
    masks += [rng.random((30, 41)) < share for share in (0.3, 0.6, 0.9)]
    for mask in masks:
        assert np.array_equal(skeletonize(mask), zhang_suen_reference(mask))
    assert not skeletonize(np.zeros((5, 5), dtype=bool)).any()


def test_a_bar_thins_to_its_middle_line() -> None:
    bar = np.zeros((9, 20), dtype=bool)
    bar[3:6, 2:18] = True
    skeleton = skeletonize(bar)
    assert skeleton[4, 4:16].all() and skeleton.sum() <= 16 and not skeleton[3].any()


def test_lengths_count_steps_between_neighbours() -> None:
    line = np.zeros((5, 10), dtype=bool)
    line[2, 1:9] = True
    assert skeleton_length(line) == 7.0
    assert skeleton_length(line, scale=(2.0, 3.0)) == 21.0  # (row step, column step)
    diagonal = np.eye(6, dtype=bool)
    assert skeleton_length(diagonal) == pytest.approx(5 * math.sqrt(2))
    assert skeleton_length(diagonal[:, ::-1]) == pytest.approx(5 * math.sqrt(2))
    assert skeleton_length(diagonal, scale=(1.0, 2.0)) == pytest.approx(5 * math.sqrt(5))
    corner = np.zeros((3, 3), dtype=bool)
    corner[0, 0] = corner[0, 1] = corner[1, 1] = True  # right then down: not also the diagonal
    assert skeleton_length(corner) == 2.0
    assert skeleton_length(np.ones((1, 1), dtype=bool)) == 0.0


def test_pieces_have_boxes_pixel_counts_and_lengths() -> None:
    mask = np.zeros((20, 30), dtype=bool)
    mask[2, 3:13] = True  # 10 px, length 9
    mask[8:18, 20] = True  # 10 px, length 9
    mask[9, 21] = True  # touches the second piece diagonally: one piece of 11 px
    pieces = road_pieces(mask)
    assert pieces[0] == RoadPiece(box=(3, 2, 13, 3), pixels=10, length=9.0)
    assert pieces[1].box == (20, 8, 22, 18) and pieces[1].pixels == 11
    assert road_pieces(np.zeros((4, 4), dtype=bool)) == []
    assert road_pieces(mask, scale=(1.0, 0.5))[0].length == 4.5
