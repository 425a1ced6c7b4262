"""The road-mask rule (``service/explain/segmentation.py``): each step against an obvious reference, the whole rule
on drawn tiles, and the manifest's entry read strictly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from service.explain.segmentation import (
    SegmentRule,
    dilate,
    grey_opening,
    line_strength,
    long_pieces,
    otsu_threshold,
    road_mask,
)


@pytest.mark.parametrize("radius", [0, 1, 2, 3, 5])
def test_square_morphology_matches_scipy(radius: int) -> None:
    rng = np.random.default_rng(radius)
    values = rng.random((37, 52)).astype(np.float32)
    side = 2 * radius + 1
    eroded = ndimage.minimum_filter(values, size=side, mode="constant", cval=np.inf)
    assert np.array_equal(
        grey_opening(values, radius), ndimage.maximum_filter(eroded, size=side, mode="constant", cval=-np.inf)
    )
    mask = values > 0.93
    assert np.array_equal(
        dilate(mask, radius), ndimage.binary_dilation(mask, np.ones((side, side))) if radius else mask
    )


def otsu_reference(values: np.ndarray, bins: int = 256) -> float:
    """The bin edge that maximises the between-class variance, by trying every one."""
    top = values.max()
    edges = np.arange(1, bins) * top / bins
    best, chosen = -1.0, 0.0
    for edge in edges:
        low, high = values[values < edge], values[values >= edge]
        if len(low) and len(high):
            between = len(low) * len(high) * (low.mean() - high.mean()) ** 2
            if between > best:
                best, chosen = between, edge
    return float(chosen)


def test_otsu_splits_two_groups_like_the_exhaustive_search() -> None:
    rng = np.random.default_rng(1)
    low, high = rng.normal(0.1, 0.02, 500).clip(0, None), rng.normal(0.6, 0.05, 80)
    values = np.concatenate([low, high])
    threshold = otsu_threshold(values)
    assert low.max() < threshold <= high.min()  # the first edge of the gap: every split in it scores the same
    assert threshold == pytest.approx(otsu_reference(values), abs=values.max() / 256 * 1.01)
    assert otsu_threshold(np.zeros(10)) == float("inf") and otsu_threshold(np.zeros(0)) == float("inf")


def test_line_strength_keeps_thin_light_lines_and_drops_wide_ones() -> None:
    image = np.full((3, 40, 40), 0.2, dtype=np.float32)
    image[:, 10, :] = 0.8  # a 1 px line
    image[:, 20:32, 5:35] = 0.8  # a field 12 px wide
    strength = line_strength(image, radius=2)
    assert strength[10, 5:35] == pytest.approx(0.6, abs=1e-5)
    assert np.abs(strength[22:30, 8:32]).max() < 1e-6  # inside the wide field: no line
    assert np.abs(strength[30:, :]).max() < 1e-6 and strength.min() >= 0


def drawn_tile() -> tuple[np.ndarray, np.ndarray]:
    """A dark noisy tile with a light 2 px road, a house (a light square) and the road's true mask."""
    rng = np.random.default_rng(2)
    image = (0.25 + 0.03 * rng.standard_normal((3, 64, 64))).astype(np.float32)
    road = np.zeros((64, 64), dtype=bool)
    rows = (np.arange(64) * 0.5 + 10).astype(int)
    road[rows, np.arange(64)] = road[rows + 1, np.arange(64)] = True
    image[:, road] = 0.7
    image[:, 50:53, 10:13] = 0.9  # a house: light, but short
    return image, road


def test_the_rule_finds_the_road_where_the_evidence_points_and_nowhere_else() -> None:
    image, road = drawn_tile()
    evidence = ndimage.gaussian_filter(road.astype(np.float32), 3)
    evidence /= evidence.max()
    rule = SegmentRule(evidence=0.1, grow=2, line_radius=2, contrast=0.8, min_length=10)
    mask = road_mask(evidence, image, rule)
    assert (mask & road).sum() >= 0.95 * road.sum() and (mask & ~dilate(road, 1)).sum() == 0
    house = np.zeros_like(evidence)
    house[48:55, 8:15] = 1.0  # evidence on the house alone: too short to be a road
    assert not road_mask(house, image, rule).any()
    assert not road_mask(np.zeros_like(evidence), image, rule).any()
    assert road_mask(evidence, image, replace(rule, evidence=1.01)).sum() == 0


def test_short_pieces_are_dropped_by_their_extent() -> None:
    mask = np.zeros((20, 20), dtype=bool)
    mask[2, 2:14] = True  # spans 11 px
    mask[10:13, 10:13] = True  # a 3 x 3 blob spans 2 * sqrt(2)
    mask[15:19, 1] = mask[18, 1:5] = True  # an L: 3 down and 3 across, sqrt(18)
    assert long_pieces(mask, 11).sum() == 12 and not long_pieces(mask, 11)[10:].any()
    assert long_pieces(mask, 4.2)[15:].sum() == 7 and not long_pieces(mask, 4.3)[15:].any()
    assert not long_pieces(mask, 11.5).any() and np.array_equal(long_pieces(mask, 0), mask)


def test_the_manifest_entry_is_read_strictly() -> None:
    assert SegmentRule.from_manifest({}) == SegmentRule()
    entry = {"evidence": 0.2, "contrast": 1, "min_length": 14, "calibrated": True, "calibration": {"tiles": "..."}}
    rule = SegmentRule.from_manifest({"segmentation": entry})
    assert (rule.evidence, rule.contrast, rule.min_length, rule.calibrated) == (0.2, 1.0, 14.0, True)
    assert SegmentRule.from_manifest({"segmentation": rule.to_manifest()}) == rule
    for bad in ({"evidence": "0.2"}, {"grow": True}, {"grow": 1.5}, {"method": "cam"}, {"evidence": 1.5}, [1]):
        with pytest.raises(ValueError):
            SegmentRule.from_manifest({"segmentation": bad})
