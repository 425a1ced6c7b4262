"""Generator version 2: towns, real-world distractors, version 1 left exactly as roadnet/1 was trained on."""

from __future__ import annotations

import numpy as np
import pytest

from tests.data.pinned import first_tiles_digest
from training.data.synthetic import VERSIONS, SyntheticConfig, Tile, make_tile, make_tiles
from training.data.tileset import ALL_PLANET_TAGS

SEED = 3
V2 = SyntheticConfig(version=2)
# sha256 of tiles 0-19 of seed 0 as generator version 1 drew them when roadnet/1 was trained
V1_DIGEST = "0a10024abaa0c3a2a23f26057914a586f69da9b45426b0ae0aab73971c773fb5"


@pytest.fixture(scope="module")
def tiles() -> list[Tile]:
    return list(make_tiles(SEED, range(400), V2))


def test_version_1_is_unchanged() -> None:
    assert first_tiles_digest(1, count=20) == V1_DIGEST


def test_version_2_is_deterministic_and_differs_from_version_1() -> None:
    assert np.array_equal(make_tile(SEED, 5, V2).image, make_tile(SEED, 5, V2).image)
    assert not np.array_equal(make_tile(SEED, 5, V2).image, make_tile(SEED, 5).image)


@pytest.mark.parametrize("version", [0, max(VERSIONS) + 1])
def test_unknown_version_is_refused(version: int) -> None:
    with pytest.raises(ValueError, match="version"):
        SyntheticConfig(version=version)


def test_mask_is_non_empty_exactly_for_road_tiles(tiles: list[Tile]) -> None:
    for tile in tiles:
        assert tile.road_mask.any() == ("road" in tile.tags)
        assert set(tile.tags) <= set(ALL_PLANET_TAGS)


def test_every_new_layer_appears_on_road_free_tiles_too(tiles: list[Tile]) -> None:
    for layer in ("lake", "riverbed", "ravines", "hedgerows"):
        with_layer = [t for t in tiles if layer in t.layers]
        assert any("road" in t.tags for t in with_layer), layer
        assert any("road" not in t.tags for t in with_layer), layer


def test_towns_are_road_tiles_with_street_grids(tiles: list[Tile]) -> None:
    towns = [t for t in tiles if "road" in t.layers and "habitation" in t.tags]
    assert len(towns) > 40
    # a street grid has far more road pixels than a single road of at most 4 px
    assert max(t.road_mask.mean() for t in towns) > 0.12


def test_a_lake_never_hides_most_of_a_road(tiles: list[Tile]) -> None:
    shore_roads = [t for t in tiles if "lake" in t.layers and "road" in t.tags]
    assert shore_roads
    for tile in shore_roads:
        assert tile.road_mask.sum() > 20
