"""Is one model's real-set ranking better than another's, beyond chance? ``python -m training.real.compare --model
DIR --against DIR``.

Both models score the same evaluation tiles; the difference of their ROC-AUCs gets a 95 % interval from a paired
bootstrap (tiles resampled with replacement, road and road-free tiles separately so every resample has both; the
same resample scores both models), and the share of resamples in which the first model is not ahead. With 125 road
and 67 road-free tiles, differences of a hundredth are within that interval: the number to read before calling a
new version better.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from training.metrics import roc_auc
from training.real.evaluate import evaluate_real, load_artifact


@dataclass(frozen=True)
class AucDifference:
    first: float
    second: float
    difference: float
    low: float
    high: float
    share_not_ahead: float  # resamples in which first - second <= 0


def auc_difference(
    first: np.ndarray, second: np.ndarray, targets: np.ndarray, resamples: int = 2000, seed: int = 0
) -> AucDifference:
    """ROC-AUC of ``first`` minus that of ``second`` on the same tiles, with a paired, label-stratified bootstrap."""
    actual = targets.ravel() >= 0.5
    road, free = np.flatnonzero(actual), np.flatnonzero(~actual)
    rng = np.random.default_rng(seed)
    differences = np.empty(resamples)
    for k in range(resamples):
        pick = np.concatenate([rng.choice(road, road.size), rng.choice(free, free.size)])
        labels = actual[pick].astype(np.float32)
        differences[k] = roc_auc(first[pick], labels) - roc_auc(second[pick], labels)
    a, b = roc_auc(first, actual.astype(np.float32)), roc_auc(second, actual.astype(np.float32))
    low, high = np.percentile(differences, [2.5, 97.5])
    return AucDifference(a, b, a - b, float(low), float(high), float(np.mean(differences <= 0)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="artifact folder, e.g. model_store/roadnet/4")
    parser.add_argument("--against", type=Path, required=True, help="the artifact folder to compare with")
    parser.add_argument("--data", type=Path, default=Path("data/real"), help="folder written by training.real.build")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    scores = []
    for folder in (args.model, args.against):
        model, manifest = load_artifact(folder)
        probabilities, targets, _ = evaluate_real(model, args.data, "eval", int(manifest["input"]["height"]))
        scores.append(probabilities["all"])
    result = auc_difference(scores[0], scores[1], targets["all"], args.resamples)
    print(
        f"ROC-AUC {result.first:.3f} ({args.model}) - {result.second:.3f} ({args.against}) = {result.difference:+.3f}; "
        f"95 % paired bootstrap interval {result.low:+.3f} to {result.high:+.3f}; "
        f"not ahead in {100 * result.share_not_ahead:.1f} % of {args.resamples} resamples"
    )


if __name__ == "__main__":
    main()
