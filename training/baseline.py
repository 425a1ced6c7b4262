"""A colour-only baseline: per-channel histograms -> logistic regression.

    python -m training.baseline --data data/synthetic [--limit N] [--json]

It sees how much of each colour a tile contains but not where, so it cannot see shape. On a dataset where
roads can only be told from rivers, bare ground and roofs by their shape it should fall well short of the
CNN; if it does not, the labels leak through colour. It uses the same split as training.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from training.data.dataset import load_dataset
from training.data.split import split_indices

BINS = 32


def colour_histograms(images: torch.Tensor, bins: int = BINS) -> NDArray[np.float64]:
    """N x (3 * bins): each channel's histogram of uint8 N x 3 x H x W images, as a share of the pixels."""
    flat = images.reshape(images.shape[0], 3, -1).numpy().astype(np.int64) * bins // 256
    n, channels, pixels = flat.shape
    codes = flat + (np.arange(n * channels).reshape(n, channels, 1) * bins)  # one bin range per (tile, channel)
    counts = np.bincount(codes.ravel(), minlength=n * channels * bins)
    return counts.reshape(n, channels * bins) / pixels


def evaluate_baseline(images: torch.Tensor, targets: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """Fit on the train split, score the validation split of :func:`split_indices`: accuracy and ROC-AUC."""
    features = colour_histograms(images)
    y = targets[:, 0].numpy() > 0.5
    train, val = split_indices(targets, seed=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(features[train], y[train])
    scores = model.predict_proba(features[val])[:, 1]
    return {
        "accuracy": float(((scores > 0.5) == y[val]).mean()),
        "roc_auc": float(roc_auc_score(y[val], scores)),
        "train": len(train),
        "validation": len(val),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Command line entry point: prints (and returns) the baseline's validation scores."""
    parser = argparse.ArgumentParser(description="Colour-histogram logistic regression baseline.")
    parser.add_argument("--data", type=Path, required=True, help="dataset folder or CSV (any supported layout)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N tiles")
    parser.add_argument("--seed", type=int, default=0, help="split seed (same meaning as in training)")
    parser.add_argument("--workers", type=int, default=2, help="decoding threads")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    args = parser.parse_args(argv)
    tiles = load_dataset(args.data, limit=args.limit, workers=args.workers)
    scores = evaluate_baseline(tiles.images, tiles.targets, args.seed)
    if args.json:
        print(json.dumps(scores))
    else:
        print(f"colour-histogram baseline on {len(tiles)} tiles: ", end="")
        print(f"accuracy {scores['accuracy']:.4f}, ROC-AUC {scores['roc_auc']:.4f}")
    return scores


if __name__ == "__main__":
    main()
