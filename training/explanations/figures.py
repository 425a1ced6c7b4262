"""The evaluation's figures: a grid of maps (input, true road mask, each method) and the sanity-check curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np

from training.explanations.results import Evaluation

CELL = 1.15  # inches per map


def grid_figure(evaluation: Evaluation, path: Path, rows: int, untrained: bool = False) -> Path:
    """One row per tile: the input, its road mask, then every method's display map."""
    labels = list(evaluation.figure_maps)
    rows = min(rows, len(evaluation.tiles.names))
    columns = 2 + len(labels)
    figure, axes = plt.subplots(rows, columns, figsize=(CELL * columns, CELL * rows + 0.6), squeeze=False)
    for r in range(rows):
        axes[r, 0].imshow(evaluation.tiles.images[r].permute(1, 2, 0).numpy())
        axes[r, 1].imshow(evaluation.tiles.masks[r].numpy(), cmap="gray", vmin=0, vmax=1)
        for c, label in enumerate(labels):
            maps = evaluation.figure_maps[label][1 if untrained else 0]
            axes[r, 2 + c].imshow(maps[r], cmap="inferno", vmin=0, vmax=1)
    for c, title in enumerate(["input", "road mask", *labels]):
        axes[0, c].set_title(title.replace(" (", "\n(").replace("_", " "), fontsize=7)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    network = "an untrained network of the same shape" if untrained else "the trained model"
    figure.suptitle(f"Display maps of {network} (0 black, 1 yellow)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def cascade_figure(evaluation: Evaluation, path: Path) -> Path:
    """Spearman correlation with the trained maps as layer groups are re-initialised from the top down."""
    figure, axis = plt.subplots(figsize=(7.5, 4.2))
    steps = np.arange(len(evaluation.groups) + 1)
    for scores in evaluation.scores:
        axis.plot(steps, [1.0, *scores.sanity], marker="o", markersize=3, label=scores.label.replace("_", " "))
    axis.set_xticks(steps, ["trained", *(f"+{group}" for group in evaluation.groups)], fontsize=8)
    axis.set_ylabel("Spearman rank correlation of |map|")
    axis.set_xlabel("layer groups re-initialised (cumulative, from the output down)")
    axis.axhline(0.0, color="grey", linewidth=0.5)
    axis.set_ylim(-0.3, 1.05)
    axis.legend(fontsize=7, loc="lower left")
    axis.set_title("Sanity check (Adebayo et al., 2018): a map should change when the model does", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
