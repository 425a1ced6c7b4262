"""The figures of the road-mask and class-model sections: masks beside the truth, and the class-model images."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from training.explanations.results import ClassModelImage, Segmentation

CELL = 1.15  # inches per picture


def segmentation_figure(segmentation: Segmentation, path: Path) -> Path:
    """One row per example tile: the input, its true mask, then each map's served mask (trained, and untrained)."""
    rows = segmentation.example_rows
    labels = list(segmentation.examples)
    columns = 2 + len(labels)
    figure, axes = plt.subplots(len(rows), columns, figsize=(CELL * columns, CELL * len(rows) + 0.7), squeeze=False)
    tiles = segmentation.tiles
    for r, index in enumerate(rows):
        axes[r, 0].imshow(tiles.images[index].transpose(1, 2, 0))
        axes[r, 1].imshow(tiles.masks[index], cmap="gray", vmin=0, vmax=1)
        for c, label in enumerate(labels):
            axes[r, 2 + c].imshow(segmentation.examples[label][r], cmap="gray", vmin=0, vmax=1)
    titles = ["input", "true road", *(label.replace(" (overlap-normalised)", "\n(normalised)") for label in labels)]
    for c, title in enumerate(titles):
        axes[0, c].set_title(title.replace("_", " ").replace(": ", "\n"), fontsize=6.5)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(
        "Road masks of POST /segment's rule on validation tiles (last two rows: road-free tiles), by evidence map",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def class_model_figure(images: list[ClassModelImage], path: Path) -> Path:
    """One row per network, one column per target and seed, each titled with the network's road probability."""
    networks = list(dict.fromkeys(image.network for image in images))
    columns = len(images) // len(networks)
    figure, axes = plt.subplots(
        len(networks), columns, figsize=(1.6 * columns, 1.8 * len(networks) + 0.5), squeeze=False
    )
    for r, network in enumerate(networks):
        for c, image in enumerate(i for i in images if i.network == network):
            axes[r, c].imshow(image.image)
            axes[r, c].set_title(f"{network}, {image.target}\nseed {image.seed}: p(road) {image.probability:.3f}",
                                 fontsize=7)  # fmt: skip
            axes[r, c].set_axis_off()
    figure.suptitle("GET /class-model: the image each network scores highest for road / not_road", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
