"""Training curves as a PNG: loss, accuracy and ROC-AUC per epoch for the training and validation splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: training runs on machines without a display
import matplotlib.pyplot as plt


def plot_curves(history: list[dict[str, Any]], path: Path) -> None:
    """Write a three-panel figure of ``history`` (one record per epoch, as written by training.train)."""
    epochs = [record["epoch"] for record in history]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    panels = (
        ("loss", [("train_loss", "train"), ("val_loss", "validation")]),
        ("accuracy", [("train_accuracy", "train"), ("val_accuracy", "validation")]),
        ("validation F2 and ROC-AUC", [("val_f2", "F2"), ("val_roc_auc", "ROC-AUC")]),
    )
    for axis, (title, series) in zip(axes, panels, strict=True):
        for key, label in series:
            axis.plot(epochs, [record[key] for record in history], marker="o", markersize=3, label=label)
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
