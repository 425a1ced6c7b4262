"""The drawings of ``python -m training.explanations.vbp_figures``: one function per figure of
``docs/visualbackprop.md``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed, and no GUI toolkit imported

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from service.engine.artifact import LoadedModel
from service.explain.common import ones_deconv, overlap_count
from training.explanations.results import Explained

DPI = 120
RIGHT, WRONG = "#15803d", "#b91c1c"


def _show(ax: Axes, picture: np.ndarray, title: str, cmap: str | None = "gray") -> None:
    ax.imshow(picture, cmap=cmap, vmin=0.0, vmax=1.0 if picture.dtype != np.uint8 else 255, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def _overlay(ax: Axes, image: np.ndarray, mask: np.ndarray, title: str) -> None:
    ax.imshow(image, interpolation="nearest")
    ax.imshow(mask, cmap="jet", alpha=0.5, vmin=0.0, vmax=1.0, interpolation="bilinear")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white")
    plt.close(figure)
    return path


def averaged_maps(example: Explained, out: Path) -> Path:
    """The input and each block's post-ReLU activations averaged over channels, shallowest first."""
    levels = list(reversed(example.levels))
    figure, axes = plt.subplots(1, 1 + len(levels), figsize=(2.1 * (1 + len(levels)), 2.5))
    _show(axes[0], example.tile.image, "input", cmap=None)
    for ax, level in zip(axes[1:], levels, strict=True):
        height, width = level.averaged.shape
        _show(ax, level.averaged, f"{level.name}: averaged\n{height}×{width}")
    return _save(figure, out / "averaged-maps.png")


def intermediate_masks(example: Explained, out: Path) -> Path:
    """Each level's mask (averaged map times the upsampled deeper mask), deepest first, then the result."""
    levels = list(example.levels)
    figure, axes = plt.subplots(1, len(levels) + 1, figsize=(2.1 * (len(levels) + 1), 2.5))
    for ax, level in zip(axes, levels, strict=False):
        height, width = level.mask.shape
        _show(ax, level.mask, f"{level.name}: mask\n{height}×{width}")
    _overlay(
        axes[-1], example.tile.image, example.faithful, f"final mask over input\np(road) = {example.probability:.2f}"
    )
    return _save(figure, out / "intermediate-masks.png")


def artifact_pattern(model: LoadedModel) -> np.ndarray:
    """The faithful mask path on activations that are all 1, before normalisation: what the upsampling alone draws.

    Each pixel's value counts the chains of overlapping windows that link it to the deepest map.
    """
    sizes_in = [model.input_size, *(b.output_size for b in model.blocks[:-1])]
    mask = torch.ones(1, *model.blocks[-1].output_size)
    for block, size_in in zip(reversed(model.blocks), reversed(sizes_in), strict=True):
        mask = ones_deconv(mask, block, size_in)
    return mask[0].numpy()


def overlap_pattern(model: LoadedModel, out: Path) -> Path:
    """One upsampling's overlap counts (numbers), the pattern of the whole chain, and one row of it."""
    strided = next(i for i, b in enumerate(model.blocks) if b.stride != (1, 1))
    block = model.blocks[strided]
    size_in = model.blocks[strided - 1].output_size if strided > 0 else model.input_size
    counts = overlap_count(block, block.output_size, size_in)[0].numpy()[:12, :12]
    chained = artifact_pattern(model)
    margin = chained.shape[0] // 8
    row = margin + int(np.argmin(chained[margin:-margin, chained.shape[1] // 2]))  # a row whose own factor is 1
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 1, 1.4]})
    axes[0].imshow(counts, cmap="Blues", vmin=0, vmax=counts.max() * 1.3)
    for (r, c), value in np.ndenumerate(counts):
        axes[0].text(c, r, f"{value:.0f}", ha="center", va="center", fontsize=7)
    kernel, stride = f"{block.kernel[0]}×{block.kernel[1]}", block.stride[0]
    axes[0].set_title(f"copies summed by one {kernel}, stride-{stride}\nupsampling (top-left corner)", fontsize=9)
    axes[0].set_axis_off()
    _show(
        axes[1], chained / chained.max(), f"the whole chain on constant activations\n(1 to {chained.max():.0f} copies)"
    )
    period = 2 ** sum(1 for b in model.blocks if b.stride != (1, 1))  # one deepest unit's step, in input pixels
    shown = chained[row, : 4 * period]
    axes[2].bar(np.arange(len(shown)), shown, width=0.85, color="#2563eb")
    for edge in range(period, len(shown), period):
        axes[2].axvline(edge - 0.5, color="#94a3b8", linestyle="--", linewidth=0.8)
    axes[2].set_title(f"row {row}, columns 0-{len(shown) - 1}: copies per pixel (period {period} px)", fontsize=9)
    axes[2].set_xlabel("column (input pixels)", fontsize=8)
    axes[2].tick_params(labelsize=8)
    return _save(figure, out / "overlap-pattern.png")


def _zoom(mask: np.ndarray, around: np.ndarray, size: int = 32) -> np.ndarray:
    """A ``size`` square of ``mask`` centred on the peak of ``around`` (the same window for both variants)."""
    row, col = np.unravel_index(int(np.argmax(around)), around.shape)
    top = int(np.clip(row - size // 2, 0, mask.shape[0] - size))
    left = int(np.clip(col - size // 2, 0, mask.shape[1] - size))
    return mask[top : top + size, left : left + size]


def faithful_vs_normalised(examples: Sequence[Explained], out: Path) -> Path:
    """Per tile: the input, both masks, and both masks zoomed around their peak."""
    figure, axes = plt.subplots(len(examples), 5, figsize=(10.5, 2.2 * len(examples)), squeeze=False)
    for row, example in zip(axes, examples, strict=True):
        label = "road" if example.tile.road else "no road"
        _show(row[0], example.tile.image, f"input ({label})", cmap=None)
        _show(row[1], example.faithful, "faithful")
        _show(row[2], example.normalised, "overlap-normalised")
        _show(row[3], _zoom(example.faithful, example.normalised), "faithful, 32×32 zoom")
        _show(row[4], _zoom(example.normalised, example.normalised), "normalised, 32×32 zoom")
    return _save(figure, out / "faithful-vs-normalised.png")


def gallery(explained: Sequence[Explained], threshold: float, out: Path, columns: int = 6) -> Path:
    """The brief's "more results": image (true label), estimated probability and mask, for validation tiles."""
    rows = 2 * int(np.ceil(len(explained) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 2.25 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for index, example in enumerate(explained):
        image_ax, mask_ax = (
            axes[2 * (index // columns), index % columns],
            axes[2 * (index // columns) + 1, index % columns],
        )
        _show(image_ax, example.tile.image, "road" if example.tile.road else "no road", cmap=None)
        _show(mask_ax, example.faithful, f"p(road) = {example.probability:.2f}")
        correct = (example.probability >= threshold) == example.tile.road
        mask_ax.title.set_color(RIGHT if correct else WRONG)
    figure.tight_layout(rect=(0.0, 0.0, 1.0, 0.97))
    figure.suptitle(
        f"image (true label) above its mask and estimated probability: green when the decision at the threshold "
        f"{threshold:.2f} is right, red when it is wrong",
        fontsize=9,
        y=0.995,
    )
    return _save(figure, out / "gallery.png")


def draw_all(out: Path, model: LoadedModel, example: Explained, explained: Sequence[Explained]) -> list[Path]:
    """Every figure of the document, into ``out``."""
    others = [e for e in explained if e is not example]
    contrast = [example, *[e for e in others if e.tile.road][:1], *[e for e in others if not e.tile.road][:1]]
    threshold = float(model.thresholds.get("road", 0.5))
    return [
        averaged_maps(example, out),
        intermediate_masks(example, out),
        overlap_pattern(model, out),
        faithful_vs_normalised(contrast, out),
        gallery(explained, threshold, out),
    ]
