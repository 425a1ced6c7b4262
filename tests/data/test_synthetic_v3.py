"""Generator version 3: tree-lined country roads and double tree rows; versions 1 and 2 left tile for tile."""

from __future__ import annotations

import numpy as np
import pytest

from tests.data.canvas import flat_canvas
from tests.data.pinned import first_tiles_digest
from training.data.avenues import normals, paint_avenue, paint_tree_rows
from training.data.scene import LUMA
from training.data.synthetic import SyntheticConfig, Tile, make_tile, make_tiles

SEED = 5
V3 = SyntheticConfig(version=3)
# sha256 of tiles 0-39 of seed 0 as generator version 2 drew them when roadnet/2 and roadnet/3 were trained
V2_DIGEST = "1daa8ab27fb86fbaa5007318f6a467a9ac05b820674480c2bb5fc6e2694701d4"


@pytest.fixture(scope="module")
def tiles() -> list[Tile]:
    return list(make_tiles(SEED, range(400), V3))


def test_version_2_is_unchanged() -> None:
    assert first_tiles_digest(2) == V2_DIGEST


def test_version_3_is_deterministic_and_differs_from_version_2() -> None:
    assert np.array_equal(make_tile(SEED, 7, V3).image, make_tile(SEED, 7, V3).image)
    v2 = SyntheticConfig(version=2)
    assert any(not np.array_equal(make_tile(SEED, i, V3).image, make_tile(SEED, i, v2).image) for i in range(10))


def test_avenues_are_road_tiles_and_tree_rows_appear_on_both(tiles: list[Tile]) -> None:
    avenues = [t for t in tiles if "avenue" in t.layers]
    assert len(avenues) > 20
    assert all("road" in t.tags and t.road_mask.any() for t in avenues)
    rows = [t for t in tiles if "tree_rows" in t.layers]
    assert any("road" in t.tags for t in rows) and any("road" not in t.tags for t in rows)


def test_mask_is_non_empty_exactly_for_road_tiles(tiles: list[Tile]) -> None:
    for tile in tiles:
        assert tile.road_mask.any() == ("road" in tile.tags)


def test_normals_of_a_horizontal_line_point_across_it() -> None:
    path = np.stack([np.linspace(0, 90, 10), np.full(10, 40.0)], axis=1).astype(np.float32)
    assert np.allclose(np.abs(normals(path)), [[0.0, 1.0]] * 10)


@pytest.mark.parametrize("seed", range(12))
def test_an_avenue_is_a_light_road_between_dark_trees(seed: int) -> None:
    cv = flat_canvas(seed)
    road = paint_avenue(cv, min_contrast=0.1)
    luma = cv.rgb @ LUMA
    trees = luma < 0.3  # HEDGE green on a mid-grey ground
    assert road.any() and trees.any()
    assert not (road & trees).any()  # the mask holds only road pixels left visible
    assert luma[road].mean() > 0.45 + 0.09  # lifted above the ground it crosses
    # the trees line the road: most crowns lie within a few pixels of it
    near = np.zeros_like(road)
    for dy in range(-6, 7):
        for dx in range(-6, 7):
            near |= np.roll(np.roll(road, dy, axis=0), dx, axis=1)
    assert (trees & near).sum() > 0.8 * trees.sum()


@pytest.mark.parametrize("seed", range(12))
def test_tree_rows_lift_nothing(seed: int) -> None:
    cv = flat_canvas(seed)
    assert paint_tree_rows(cv)
    luma = cv.rgb @ LUMA
    assert (luma < 0.3).any()
    assert luma.max() <= 0.45 + 1e-6  # only trees and maybe a dark ditch: nothing lighter than the ground
