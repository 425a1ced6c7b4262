"""The train / validation split: stratified on the first label, reproducible from a seed."""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray

IndexArray = NDArray[np.int64]
VALIDATION_SHARE = 0.2  # 40,479 tiles -> 32,384 train / 8,095 validation, as in the brief


def default_val_count(n: int) -> int:
    """The brief's validation size: 20 % of the tiles, rounded down (8,095 of 40,479)."""
    return int(n * VALIDATION_SHARE)


def split_indices(
    targets: torch.Tensor | NDArray[np.floating], n_val: int | None = None, seed: int = 0
) -> tuple[IndexArray, IndexArray]:
    """Split tile indices into (train, validation), both sorted.

    Stratified on the first label column (the label of interest; with several labels the others are not
    balanced explicitly): each class gives its share of ``n_val``, rounded so the total is exact. The same
    targets, ``n_val`` and ``seed`` always give the same split. ``n_val`` defaults to :func:`default_val_count`.
    """
    y = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)[:, 0] > 0.5
    n = len(y)
    n_val = default_val_count(n) if n_val is None else n_val
    if not 0 <= n_val <= n:
        raise ValueError(f"n_val={n_val} must lie in [0, {n}]")
    rng = np.random.default_rng(seed)
    val: list[IndexArray] = []
    for members, k in zip(*_allocate(y, n_val), strict=True):
        val.append(rng.permutation(members)[:k])
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, dtype=np.int64)
    train_idx = np.setdiff1d(np.arange(n, dtype=np.int64), val_idx)
    return train_idx, val_idx.astype(np.int64)


def _allocate(y: NDArray[np.bool_], n_val: int) -> tuple[list[IndexArray], list[int]]:
    """Each class's members and its validation quota (largest remainder, so quotas sum to ``n_val``)."""
    groups = [np.flatnonzero(~y), np.flatnonzero(y)]
    exact = np.asarray([n_val * len(g) / max(len(y), 1) for g in groups])
    quota = np.floor(exact).astype(np.int64)
    for i in np.argsort(-(exact - quota), kind="stable")[: n_val - int(quota.sum())]:
        quota[i] += 1
    return groups, [int(q) for q in quota]
