"""The real-tile threshold: never costs more than the allowed synthetic accuracy, never looks at evaluation tiles."""

from __future__ import annotations

import numpy as np
import pytest

from training.calibrate import SYNTHETIC_FLOOR, SYNTHETIC_SLACK, accuracy_at, calibrate_for_real


def test_lowers_the_threshold_to_catch_real_roads_within_the_synthetic_slack() -> None:
    # 1,000 synthetic tiles well separated; real road tiles scored 0.36-0.45 by a model that ranks them well
    synthetic_p = np.concatenate([np.linspace(0.0, 0.3, 500), np.linspace(0.51, 1.0, 500)])
    synthetic_t = np.concatenate([np.zeros(500), np.ones(500)])
    synthetic_p[:4] = 0.35  # four synthetic negatives sit where the real roads are: 0.4 % accuracy lost
    tune_p, tune_t = np.linspace(0.36, 0.45, 10), np.ones(10)
    chosen = calibrate_for_real((synthetic_p, synthetic_t), (tune_p, tune_t), 0.5)
    assert chosen < 0.36 and accuracy_at(tune_p, tune_t, chosen) == 1.0
    assert accuracy_at(synthetic_p, synthetic_t, chosen) >= 1.0 - SYNTHETIC_SLACK


def test_keeps_the_synthetic_threshold_when_lowering_would_cost_too_much() -> None:
    synthetic_p = np.concatenate([np.linspace(0.0, 0.49, 500), np.linspace(0.51, 1.0, 500)])
    synthetic_t = np.concatenate([np.zeros(500), np.ones(500)])
    tune_p, tune_t = np.full(10, 0.1), np.ones(10)  # catching these would misclassify 40 % of synthetic negatives
    assert calibrate_for_real((synthetic_p, synthetic_t), (tune_p, tune_t), 0.5) == 0.5


def test_among_equals_keeps_the_highest_threshold() -> None:
    synthetic_p = np.asarray([0.1, 0.2, 0.8, 0.9])
    synthetic_t = np.asarray([0.0, 0.0, 1.0, 1.0])
    tune_p, tune_t = np.asarray([0.7]), np.asarray([1.0])
    chosen = calibrate_for_real((synthetic_p, synthetic_t), (tune_p, tune_t), 0.85)
    assert chosen == pytest.approx(0.45)  # the midpoint between the synthetic negative at 0.2 and the real road at 0.7


def _synthetic(wrong_negatives: int) -> tuple[np.ndarray, np.ndarray]:
    """1,000 synthetic tiles: ``wrong_negatives`` negatives at 0.95 and ten positives at 0.05 that no threshold
    fixes, and four positives at 0.55 that a threshold over 0.55 loses (0.4 % of the accuracy)."""
    negatives = np.concatenate([np.full(500 - wrong_negatives, 0.1), np.full(wrong_negatives, 0.95)])
    positives = np.concatenate([np.full(10, 0.05), np.full(4, 0.55), np.full(486, 0.9)])
    return np.concatenate([negatives, positives]), np.concatenate([np.zeros(500), np.ones(500)])


# three real road-free tune tiles at 0.58 and a real road at 0.7: all four right only above 0.58
TUNE = (np.asarray([0.58, 0.58, 0.58, 0.7]), np.asarray([0.0, 0.0, 0.0, 1.0]))


def test_never_goes_under_the_synthetic_floor_when_the_best_reaches_it() -> None:
    synthetic = _synthetic(wrong_negatives=18)
    assert accuracy_at(*synthetic, 0.5) == pytest.approx(0.972)  # the best
    assert accuracy_at(*synthetic, 0.6) == pytest.approx(0.968)  # inside the slack, under the floor
    chosen = calibrate_for_real(synthetic, TUNE, 0.5)
    assert chosen <= 0.55 and accuracy_at(*synthetic, chosen) >= SYNTHETIC_FLOOR


def test_under_the_floor_the_slack_alone_applies() -> None:
    synthetic = _synthetic(wrong_negatives=50)  # best 94 %: the floor cannot be met, so it does not bind
    assert accuracy_at(*synthetic, 0.5) == pytest.approx(0.94)
    chosen = calibrate_for_real(synthetic, TUNE, 0.5)
    assert 0.58 < chosen <= 0.7 and accuracy_at(*synthetic, chosen) >= 0.94 - SYNTHETIC_SLACK
