"""Classification metrics for validation: accuracy, precision, recall, F1, F2, ROC-AUC, threshold choice.

Multi-label outputs are scored per label and micro-averaged over (sample, label) pairs, which is how the
Planet competition's F2 treats its 17 tags; for the single ``road`` label both readings coincide.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import roc_auc_score


@dataclass(frozen=True)
class Scores:
    loss: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    f2: float
    roc_auc: float
    threshold: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def f_beta(precision: float, recall: float, beta: float) -> float:
    b2 = beta * beta
    denominator = b2 * precision + recall
    return (1 + b2) * precision * recall / denominator if denominator > 0 else 0.0


def confusion(probabilities: np.ndarray, targets: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    """True positives, false positives, false negatives, true negatives over every (sample, label)."""
    predicted = probabilities >= threshold
    actual = targets >= 0.5
    tp = int(np.sum(predicted & actual))
    fp = int(np.sum(predicted & ~actual))
    fn = int(np.sum(~predicted & actual))
    tn = int(np.sum(~predicted & ~actual))
    return tp, fp, fn, tn


def roc_auc(probabilities: np.ndarray, targets: np.ndarray) -> float:
    """Micro-averaged ROC-AUC; NaN when only one class is present (AUC is undefined then)."""
    flat_targets = (targets >= 0.5).ravel()
    if flat_targets.all() or not flat_targets.any():
        return float("nan")
    return float(roc_auc_score(flat_targets, probabilities.ravel()))


def score(probabilities: np.ndarray, targets: np.ndarray, loss: float, threshold: float = 0.5) -> Scores:
    """Every validation metric at one decision threshold."""
    tp, fp, fn, tn = confusion(probabilities, targets, threshold)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return Scores(
        loss=loss,
        accuracy=(tp + tn) / max(tp + fp + fn + tn, 1),
        precision=precision,
        recall=recall,
        f1=f_beta(precision, recall, 1.0),
        f2=f_beta(precision, recall, 2.0),
        roc_auc=roc_auc(probabilities, targets),
        threshold=threshold,
    )


def choose_threshold(probabilities: np.ndarray, targets: np.ndarray) -> float:
    """The threshold that maximises validation accuracy (ties: the one closest to 0.5).

    Candidates are the midpoints between sorted distinct probabilities, so the choice is exact, not a grid.
    """
    values = np.unique(probabilities.ravel())
    candidates = np.concatenate([[0.5], (values[:-1] + values[1:]) / 2]) if values.size > 1 else np.array([0.5])
    actual = (targets >= 0.5).ravel()
    flat = probabilities.ravel()
    order = np.argsort(flat)
    sorted_probs, sorted_actual = flat[order], actual[order]
    positives_above = np.cumsum(sorted_actual[::-1])[::-1]  # positives at index >= i
    negatives_below = np.cumsum(~sorted_actual)  # negatives at index <= i
    first_above = np.searchsorted(sorted_probs, candidates, side="left")
    tp = np.where(first_above < flat.size, positives_above[np.minimum(first_above, flat.size - 1)], 0)
    tn = np.where(first_above > 0, negatives_below[np.maximum(first_above - 1, 0)], 0)
    correct = tp + tn
    best = correct.max()
    ties = candidates[correct == best]
    return float(ties[np.argmin(np.abs(ties - 0.5))])
