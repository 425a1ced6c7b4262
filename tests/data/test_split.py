"""The train / validation split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.data.split import default_val_count, split_indices


def targets(n: int, positive_share: float, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy((rng.random((n, 2)) < positive_share).astype(np.float32))


def test_the_brief_sizes() -> None:
    assert default_val_count(40479) == 8095
    train, val = split_indices(targets(40479, 0.3))
    assert (len(train), len(val)) == (32384, 8095)


def test_split_is_a_partition() -> None:
    train, val = split_indices(targets(1000, 0.5), n_val=200, seed=1)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(1000))
    assert train.dtype == val.dtype == np.int64


def test_split_is_stratified_on_the_first_label() -> None:
    y = targets(1001, 0.1)
    train, val = split_indices(y, n_val=250)
    share = y[:, 0].mean().item()
    assert abs(y[val, 0].mean().item() - share) < 0.005
    assert abs(y[train, 0].mean().item() - share) < 0.005


def test_split_is_reproducible_and_depends_on_the_seed() -> None:
    y = targets(500, 0.4)
    a, b, c = split_indices(y, 100, seed=5), split_indices(y, 100, seed=5), split_indices(y, 100, seed=6)
    assert np.array_equal(a[1], b[1]) and np.array_equal(a[0], b[0])
    assert not np.array_equal(a[1], c[1])


def test_impossible_sizes_are_rejected() -> None:
    with pytest.raises(ValueError):
        split_indices(targets(10, 0.5), n_val=11)
