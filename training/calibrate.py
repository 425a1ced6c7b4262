"""The decision threshold for real tiles too, and the real-imagery figures a training run records.

``choose_threshold`` (metrics.py) maximises synthetic validation accuracy. Real tiles differ: a threshold that is
best on synthetic tiles can miss real roads that the network ranks well. ``calibrate_for_real`` keeps the
synthetic validation accuracy within ``SYNTHETIC_SLACK`` of its best, and never under ``SYNTHETIC_FLOOR`` when its
best reaches it (the real-imagery issue's own target: synthetic accuracy stays >= 97 %), and, among those
thresholds, takes the one that is right on the most real *tune* tiles, road and road-free (never an evaluation
tile); among equals, the highest threshold, so road-free tiles are disturbed as little as possible. Both
thresholds and their figures are recorded.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.data.dataset import load_dataset
from training.real.evaluate import evaluate_real, real_scores

SYNTHETIC_SLACK = 0.005
SYNTHETIC_FLOOR = 0.97


def accuracy_at(probabilities: np.ndarray, targets: np.ndarray, threshold: float) -> float:
    return float(np.mean((probabilities.ravel() >= threshold) == (targets.ravel() >= 0.5)))


def calibrate_for_real(
    synthetic: tuple[np.ndarray, np.ndarray], tune: tuple[np.ndarray, np.ndarray], synthetic_best: float
) -> float:
    """The threshold described in the module docstring (``synthetic_best`` when the tune tiles add nothing)."""
    syn_p, syn_t = (a.ravel() for a in synthetic)
    tune_p, tune_t = (a.ravel() for a in tune)
    if tune_p.size == 0:
        return synthetic_best
    values = np.unique(np.concatenate([syn_p, tune_p, [synthetic_best]]))
    candidates = np.unique(np.concatenate([(values[:-1] + values[1:]) / 2, [synthetic_best]]))
    best_accuracy = accuracy_at(syn_p, syn_t, synthetic_best)
    lowest = best_accuracy - SYNTHETIC_SLACK
    if best_accuracy >= SYNTHETIC_FLOOR:
        lowest = max(lowest, SYNTHETIC_FLOOR)
    choice, choice_tune = synthetic_best, accuracy_at(tune_p, tune_t, synthetic_best)
    for threshold in candidates[::-1]:  # highest first: ties keep the higher threshold
        if accuracy_at(syn_p, syn_t, threshold) < lowest:
            continue
        tune_accuracy = accuracy_at(tune_p, tune_t, threshold)
        if tune_accuracy > choice_tune:
            choice, choice_tune = float(threshold), tune_accuracy
    return choice


@torch.no_grad()
def _probabilities(model: torch.nn.Module, images: torch.Tensor) -> np.ndarray:
    model.eval()
    chunks = [torch.sigmoid(model(images[i : i + 256].float() / 255.0)) for i in range(0, len(images), 256)]
    return torch.cat(chunks).numpy()[:, 0] if chunks else np.zeros(0, dtype=np.float32)


def real_report(
    model: torch.nn.Module,
    real_data: Path,
    synthetic: tuple[np.ndarray, np.ndarray],
    synthetic_best: float,
    size: int = 96,
) -> tuple[float, dict[str, Any]]:
    """The calibrated threshold, and the real figures (tune and evaluation tiles) at both thresholds."""
    tune = load_dataset(real_data / "tune.csv", size=size, workers=1)
    tune_p, tune_t = _probabilities(model, tune.images), tune.targets.numpy()[:, 0]
    calibrated = calibrate_for_real(synthetic, (tune_p, tune_t), synthetic_best)
    probs, targs, _ = evaluate_real(model, real_data, "eval", size)
    report: dict[str, Any] = {"synthetic_threshold": synthetic_best, "calibrated_threshold": calibrated}
    for key, threshold in (("at_synthetic_threshold", synthetic_best), ("at_calibrated_threshold", calibrated)):
        report[key] = {
            "synthetic_validation_accuracy": accuracy_at(*synthetic, threshold),
            "tune": asdict(real_scores(tune_p, tune_t, threshold)),
            "eval": {source: asdict(real_scores(probs[source], targs[source], threshold)) for source in probs},
        }
    return calibrated, report
