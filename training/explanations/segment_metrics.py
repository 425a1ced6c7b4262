"""How well a road mask matches the true one: relaxed precision and recall, IoU, and the error of the road's length.

- **Relaxed precision / recall** (Mnih & Hinton, 2010, the measure of road extraction from aerial images): a
  predicted road pixel is right when a true road pixel lies within ``SLACK`` pixels of it (Euclidean distance), and
  a true road pixel is found when a predicted one lies that close. A road one pixel off, or a mask a pixel wider
  than a 1-pixel road, is not an error at this resolution. Counts are pooled over all tiles.
- **IoU**: strict intersection over union, per road tile.
- **Length error**: |L(predicted) - L(true)| / L(true), L the skeleton length of ``service.explain.roads`` (the
  length ``POST /segment`` reports), per road tile.
"""

from __future__ import annotations

import numpy as np

from service.explain.roads import skeleton_length, skeletonize
from training.explanations.results import MaskScores

SLACK = 2  # pixels
DISK = tuple(
    (dy, dx) for dy in range(-SLACK, SLACK + 1) for dx in range(-SLACK, SLACK + 1) if dy * dy + dx * dx <= SLACK**2
)


def near(mask: np.ndarray, slack: int = SLACK) -> np.ndarray:
    """The pixels within ``slack`` pixels (Euclidean) of ``mask``: a dilation by a disk."""
    height, width = mask.shape
    padded = np.zeros((height + 2 * slack, width + 2 * slack), dtype=bool)
    padded[slack : slack + height, slack : slack + width] = mask
    out = np.zeros_like(mask)
    for dy, dx in DISK if slack == SLACK else _disk(slack):
        out |= padded[slack + dy : slack + dy + height, slack + dx : slack + dx + width]
    return out


def _disk(slack: int) -> tuple[tuple[int, int], ...]:
    span = range(-slack, slack + 1)
    return tuple((dy, dx) for dy in span for dx in span if dy * dy + dx * dx <= slack**2)


def relaxed_counts(predicted: np.ndarray, true: np.ndarray, true_near: np.ndarray | None = None) -> np.ndarray:
    """[predicted pixels near the truth, predicted pixels, true pixels near the prediction, true pixels]."""
    close = near(true) if true_near is None else true_near
    return np.array(
        [(predicted & close).sum(), predicted.sum(), (true & near(predicted)).sum(), true.sum()], dtype=np.int64
    )


def iou(predicted: np.ndarray, true: np.ndarray) -> float:
    """Strict intersection over union (1.0 when both are empty)."""
    union = int((predicted | true).sum())
    return float((predicted & true).sum()) / union if union else 1.0


def length_error(predicted_length: float, true_length: float) -> float:
    """|predicted - true| / true (0 when both are 0; inf for a length where there is none)."""
    if true_length <= 0:
        return 0.0 if predicted_length <= 0 else float("inf")
    return abs(predicted_length - true_length) / true_length


def true_lengths(masks: np.ndarray) -> np.ndarray:
    """The skeleton length of every true mask."""
    return np.array([skeleton_length(skeletonize(mask)) for mask in masks])


def f1(precision: float, recall: float) -> float:
    """Their harmonic mean (0 when both are 0)."""
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def summarise(counts: np.ndarray, ious: list[float], errors: list[float], free: list[float]) -> MaskScores:
    """``MaskScores`` from pooled relaxed counts and the per-tile IoUs, length errors and road-free shares."""
    precision = counts[0] / counts[1] if counts[1] else 1.0
    recall = counts[2] / counts[3] if counts[3] else 1.0
    return MaskScores(
        precision=float(precision),
        recall=float(recall),
        f1=f1(float(precision), float(recall)),
        iou=float(np.mean(ious)) if ious else float("nan"),
        length_error=float(np.median(errors)) if errors else float("nan"),
        free_share=float(np.median(free)) if free else float("nan"),
        free_share_mean=float(np.mean(free)) if free else float("nan"),
        road_tiles=len(ious),
        free_tiles=len(free),
    )


def score_masks(predicted: np.ndarray, true: np.ndarray, road: np.ndarray, lengths: np.ndarray) -> MaskScores:
    """Every measure of ``predicted`` (bool N x H x W) against ``true``; ``road`` says which tiles have a road,
    ``lengths`` are the true masks' skeleton lengths (``true_lengths``)."""
    counts = np.zeros(4, dtype=np.int64)
    ious: list[float] = []
    errors: list[float] = []
    free: list[float] = []
    for i in range(len(predicted)):
        counts += relaxed_counts(predicted[i], true[i])
        if road[i]:
            ious.append(iou(predicted[i], true[i]))
            errors.append(length_error(skeleton_length(skeletonize(predicted[i])), float(lengths[i])))
        else:
            free.append(float(predicted[i].mean()))
    return summarise(counts, ious, errors, free)
