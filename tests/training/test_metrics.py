"""Validation metrics and the threshold choice, against brute force and hand-worked numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.augment import dihedral, random_dihedral
from training.metrics import choose_threshold, f_beta, score


def test_scores_on_a_hand_worked_example() -> None:
    probabilities = np.array([[0.9], [0.8], [0.3], [0.6], [0.1]])
    targets = np.array([[1.0], [1.0], [1.0], [0.0], [0.0]])
    s = score(probabilities, targets, loss=0.0, threshold=0.5)
    # tp=2 (0.9, 0.8), fp=1 (0.6), fn=1 (0.3), tn=1 (0.1)
    assert s.accuracy == pytest.approx(3 / 5)
    assert s.precision == pytest.approx(2 / 3) and s.recall == pytest.approx(2 / 3)
    assert s.f2 == pytest.approx(2 / 3)
    assert s.roc_auc == pytest.approx(5 / 6)  # 5 of the 6 positive/negative pairs are ordered correctly


def test_f2_weighs_recall() -> None:
    assert f_beta(0.5, 1.0, 2.0) == pytest.approx(5 * 0.5 / (4 * 0.5 + 1))
    assert f_beta(0.0, 0.0, 2.0) == 0.0


def test_threshold_maximises_accuracy_like_brute_force() -> None:
    rng = np.random.default_rng(0)
    targets = (rng.random(300) < 0.4).astype(float)
    probabilities = np.clip(0.3 * targets + 0.5 * rng.random(300), 0, 1)
    chosen = choose_threshold(probabilities, targets)
    grid = np.linspace(0, 1, 2001)
    best = max(np.mean((probabilities >= t) == (targets > 0.5)) for t in grid)
    assert np.mean((probabilities >= chosen) == (targets > 0.5)) == pytest.approx(best)


def test_dihedral_transforms_form_the_symmetry_group() -> None:
    image = torch.arange(16.0).view(1, 1, 4, 4)
    outputs = {tuple(dihedral(image, t).flatten().tolist()) for t in range(8)}
    assert len(outputs) == 8  # all eight distinct
    assert torch.equal(dihedral(dihedral(image, 1), 3), image)


def test_random_dihedral_is_seeded_and_keeps_content() -> None:
    images = torch.rand(32, 3, 8, 8)
    a = random_dihedral(images, torch.Generator().manual_seed(1))
    b = random_dihedral(images, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, images)
    assert torch.allclose(a.sum(dim=(1, 2, 3)), images.sum(dim=(1, 2, 3)))
