"""The generator: determinism, masks, prevalence and distractors."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from training.data.synthetic import SyntheticConfig, Tile, make_tile, make_tiles

SEED = 7


@pytest.fixture(scope="module")
def tiles() -> list[Tile]:
    return list(make_tiles(SEED, range(300)))


def digest(tile: Tile) -> str:
    return hashlib.sha256(tile.image.tobytes() + tile.road_mask.tobytes() + " ".join(tile.tags).encode()).hexdigest()


def test_same_seed_and_index_give_identical_bytes_in_another_process() -> None:
    code = (
        "import hashlib; from training.data.synthetic import make_tile; t = make_tile(7, 11);"
        "print(hashlib.sha256(t.image.tobytes() + t.road_mask.tobytes() + ' '.join(t.tags).encode()).hexdigest())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == digest(make_tile(SEED, 11)) == digest(make_tile(SEED, 11))


def test_different_index_or_seed_gives_a_different_tile() -> None:
    assert not np.array_equal(make_tile(SEED, 1).image, make_tile(SEED, 2).image)
    assert not np.array_equal(make_tile(SEED, 1).image, make_tile(SEED + 1, 1).image)


def test_tile_shapes_follow_the_size_parameter() -> None:
    tile = make_tile(SEED, 3, SyntheticConfig(size=64))
    assert tile.image.shape == (64, 64, 3) and tile.image.dtype == np.uint8
    assert tile.road_mask.shape == (64, 64) and tile.road_mask.dtype == np.bool_


def test_mask_is_non_empty_exactly_for_road_tiles(tiles: list[Tile]) -> None:
    for tile in tiles:
        assert tile.road_mask.any() == ("road" in tile.tags)


def dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def test_road_pixels_are_lighter_than_their_neighbourhood(tiles: list[Tile]) -> None:
    luma = np.asarray([0.299, 0.587, 0.114])
    gaps = []
    for tile in (t for t in tiles if "road" in t.tags):
        ring = dilate(tile.road_mask, 3) & ~dilate(tile.road_mask, 1)
        grey = tile.image.astype(np.float64) @ luma
        gaps.append(np.median(grey[tile.road_mask]) - np.median(grey[ring]))
    assert len(gaps) > 100
    assert np.min(gaps) > 5 and np.median(gaps) > 25


def test_road_prevalence_follows_the_parameter() -> None:
    for fraction in (0.2, 0.8):
        config = SyntheticConfig(road_fraction=fraction, size=32)
        share = np.mean(["road" in t.tags for t in make_tiles(SEED, range(400), config)])
        assert abs(share - fraction) < 0.07


def test_rivers_appear_in_tiles_without_roads(tiles: list[Tile]) -> None:
    river_tiles = [t for t in tiles if "river" in t.layers]
    assert any("road" not in t.tags for t in river_tiles)
    assert all("water" in t.tags for t in river_tiles if "cloudy" not in t.tags)


def test_tags_are_planet_tags_and_weather_is_exclusive(tiles: list[Tile]) -> None:
    from training.data.tileset import ALL_PLANET_TAGS

    weathers = {"clear", "haze", "partly_cloudy", "cloudy"}
    for tile in tiles:
        assert set(tile.tags) <= set(ALL_PLANET_TAGS)
        assert len(weathers & set(tile.tags)) == 1
        if "cloudy" in tile.tags:
            assert tile.tags == ("cloudy",)
