"""Generator version 4: country roads across a corner of the tile; versions 1-3 left tile for tile."""

from __future__ import annotations

import numpy as np
import pytest

from tests.data.canvas import flat_canvas
from tests.data.pinned import first_tiles_digest
from training.data.corners import LONGEST, SHORTEST, corner_path, paint_corner_road
from training.data.scene import LUMA, inside_length
from training.data.synthetic import SyntheticConfig, Tile, make_tile, make_tiles

SEED = 5
V4 = SyntheticConfig(version=4)
# sha256 of tiles 0-39 of seed 0 as generator version 3 drew them when roadnet/4 was trained
V3_DIGEST = "945a10bf099362b67ede5d287be352d29c035801a7e036cceccc57f78228ce48"


@pytest.fixture(scope="module")
def tiles() -> list[Tile]:
    return list(make_tiles(SEED, range(400), V4))


def _sides_touched(mask: np.ndarray) -> set[str]:
    edges = {"top": mask[0], "right": mask[:, -1], "bottom": mask[-1], "left": mask[:, 0]}
    return {side for side, pixels in edges.items() if pixels.any()}


def test_version_3_is_unchanged() -> None:
    assert first_tiles_digest(3) == V3_DIGEST


def test_version_4_is_deterministic_and_differs_from_version_3() -> None:
    assert np.array_equal(make_tile(SEED, 7, V4).image, make_tile(SEED, 7, V4).image)
    v3 = SyntheticConfig(version=3)
    assert any(not np.array_equal(make_tile(SEED, i, V4).image, make_tile(SEED, i, v3).image) for i in range(40))


@pytest.mark.parametrize("seed", range(40))
def test_a_corner_path_runs_a_third_to_six_tenths_of_a_tile_inside(seed: int) -> None:
    cv = flat_canvas(seed)
    path = corner_path(cv)
    assert SHORTEST * cv.size <= inside_length(path, cv.size) <= LONGEST * cv.size
    # it comes in through one side and leaves through the next: its two ends lie just outside two adjacent sides
    outside = [(end < 0) | (end > cv.size - 1) for end in (path[0], path[-1])]
    assert [int(o.sum()) for o in outside] == [1, 1]
    assert outside[0].argmax() != outside[1].argmax()  # one end off a top/bottom side, the other off a left/right one


@pytest.mark.parametrize("seed", range(12))
def test_a_corner_road_is_a_lifted_line_touching_two_adjacent_sides(seed: int) -> None:
    cv = flat_canvas(seed)
    road = paint_corner_road(cv, min_contrast=0.1)
    luma = cv.rgb @ LUMA
    assert luma[road].mean() > 0.45 + 0.09 and np.allclose(luma[~road], 0.45 * LUMA.sum(), atol=1e-5)
    sides = _sides_touched(road)
    adjacent = [{"top", "right"}, {"right", "bottom"}, {"bottom", "left"}, {"left", "top"}]
    assert any(pair <= sides for pair in adjacent)


def test_corner_roads_are_road_tiles_with_a_mask(tiles: list[Tile]) -> None:
    corners = [t for t in tiles if "corner" in t.layers]
    assert 10 < len(corners) < 60  # 2 in 5 of the country roads that are not avenues: about 1 in 8 road tiles
    assert all("road" in t.tags and t.road_mask.any() for t in corners)
    for tile in tiles:
        assert tile.road_mask.any() == ("road" in tile.tags)
