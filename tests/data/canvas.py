"""A flat test canvas for the generator's painters: one grey level, no grain, nothing cleared."""

from __future__ import annotations

import numpy as np

from training.data.scene import Canvas


def flat_canvas(seed: int, level: float = 0.45, size: int = 96) -> Canvas:
    """A ``size`` x ``size`` canvas of uniform grey ``level``, so what a painter lifts or darkens is easy to see."""
    return Canvas(
        rng=np.random.default_rng(seed),
        size=size,
        rgb=np.full((size, size, 3), level, dtype=np.float32),
        cleared=np.zeros((size, size), dtype=np.bool_),
        grain=np.zeros((size, size), dtype=np.float32),
    )
