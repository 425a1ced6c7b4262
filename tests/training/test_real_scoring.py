"""Scoring on real tiles: the per-class counts, Planet chips' labels from their tags, and the pointing game."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from training.real.evaluate import load_planet_chips, real_scores
from training.real.pointing import crops, pointing_hits


def test_real_scores_counts_roads_found_and_road_free_tiles_left_alone() -> None:
    probabilities = np.asarray([0.9, 0.6, 0.2, 0.1, 0.7, 0.3])
    targets = np.asarray([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    scores = real_scores(probabilities, targets, threshold=0.5)
    assert (scores.road, scores.no_road, scores.roads_found, scores.free_left_alone) == (3, 3, 2, 2)
    assert scores.recall == pytest.approx(2 / 3) and scores.specificity == pytest.approx(2 / 3)
    assert scores.roc_auc == pytest.approx(6 / 9)  # 6 of the 9 (road, road-free) pairs ranked right
    assert real_scores(probabilities, targets, threshold=0.05).specificity == 0.0


def test_planet_chips_are_road_chips_when_tagged_road(tmp_path: Path) -> None:
    (tmp_path / "tags.csv").write_text("image_name,tags\na,clear primary road\nb,clear primary\n")
    for name in "ab":
        Image.new("CMYK", (256, 256), (10, 20, 30, 0)).save(tmp_path / f"{name}.jpg")
    images, targets, names = load_planet_chips(tmp_path)
    assert images.shape == (2, 3, 96, 96) and images.dtype == torch.uint8
    assert targets.tolist() == [1.0, 0.0] and names == ["a", "b"]


def test_pointing_game_hits_within_two_pixels_of_the_road() -> None:
    masks = torch.zeros(3, 16, 16, dtype=torch.bool)
    masks[:, 8, :] = True
    maps = torch.zeros(3, 16, 16)
    maps[0, 10, 3] = 1.0  # 2 px from the road: a hit
    maps[1, 11, 3] = 1.0  # 3 px: a miss
    assert pointing_hits(maps, masks).tolist() == [1.0, 0.0, 0.0]  # an all-zero map misses


def test_crops_are_the_whole_tile_and_its_quadrants() -> None:
    image, mask = np.zeros((10, 10, 3), dtype=np.uint8), np.zeros((10, 10), dtype=bool)
    parts = crops(image, mask)
    assert parts[0][0] == "whole" and len(parts) == 5
    assert all(part.shape == (5, 5, 3) and m.shape == (5, 5) for _, part, m in parts[1:])
