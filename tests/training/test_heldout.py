"""The held-out scene's grid and labels (the scene itself is not fetched in CI: 23 MB for a check run by hand)."""

from __future__ import annotations

import numpy as np

from training.real import heldout


def test_the_grid_cuts_48_far_apart_tiles_named_row_then_column() -> None:
    scene = np.zeros((1947, 1933, 3), dtype=np.uint8)
    scene[1680, 1200] = 255  # the top-left pixel of the last tile: row 7 (y), column 5 (x)
    tiles = heldout.cut_tiles(scene)
    assert len(tiles) == 48 and all(tile.shape == (80, 80, 3) for tile in tiles.values())
    assert tiles["7_5"][0, 0, 0] == 255 and sum(int(tile.max()) for tile in tiles.values()) == 255


def test_the_labels_are_the_model_cards_10_road_10_doubtful_28_road_free() -> None:
    names = set(heldout.cut_tiles(np.zeros((1947, 1933, 3), dtype=np.uint8)))
    assert (
        set(heldout.ROAD) <= names and set(heldout.DOUBTFUL) <= names and not set(heldout.ROAD) & set(heldout.DOUBTFUL)
    )
    assert [heldout.label_of(n) for n in sorted(names)].count("no_road") == 28
    assert len(heldout.ROAD) == len(heldout.DOUBTFUL) == 10
