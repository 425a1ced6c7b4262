"""The paired bootstrap of a ROC-AUC difference (training/real/compare.py) on hand-made scores."""

from __future__ import annotations

import numpy as np
import pytest

from training.real.compare import auc_difference

TARGETS = np.asarray([1.0] * 30 + [0.0] * 20, dtype=np.float32)


def test_a_model_against_itself_differs_by_nothing() -> None:
    scores = np.random.default_rng(1).random(50)
    result = auc_difference(scores, scores, TARGETS, resamples=200)
    assert result.difference == result.low == result.high == 0.0 and result.share_not_ahead == 1.0


def test_a_perfect_ranking_beats_a_reversed_one_beyond_doubt() -> None:
    perfect = TARGETS + 0.01 * np.arange(50)  # every road above every road-free tile
    result = auc_difference(perfect, -perfect, TARGETS, resamples=200)
    assert (result.first, result.second, result.difference) == (1.0, 0.0, 1.0)
    assert result.low == result.high == 1.0 and result.share_not_ahead == 0.0


def test_one_swapped_pair_is_a_small_difference_inside_its_interval() -> None:
    perfect = TARGETS * 10 + np.arange(50) / 100
    swapped = perfect.copy()
    swapped[0], swapped[30] = perfect[30], perfect[0]  # one road tile and one road-free tile trade places
    result = auc_difference(perfect, swapped, TARGETS, resamples=500, seed=3)
    assert result.difference == pytest.approx(1.0 - result.second) and 0 < result.difference < 0.05
    assert result.low <= result.difference <= result.high
    assert 0.0 < result.share_not_ahead < 1.0  # resamples that miss tile 0 or tile 30 see no difference
