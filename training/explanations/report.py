"""``docs/explanations.md``: the evaluation's tables, figures, CI bars, and what they mean for choosing a method."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import torch

from service.config import Settings
from service.engine.device import default_explain_batch
from service.explain.registry import NOT_APPLICABLE, Limits, describe_methods
from training.explanations.ci import BARS, all_failures
from training.explanations.figures import cascade_figure, grid_figure
from training.explanations.guide import guidance
from training.explanations.results import TIMED_RUNS, ClassModelImage, Evaluation, Scores, Segmentation
from training.explanations.segment_figures import class_model_figure, segmentation_figure
from training.explanations.segment_report import class_model_section, segmentation_section

FIGURE_TILES = 12


def write_report(
    evaluation: Evaluation,
    out: Path,
    figures: Path,
    ci: Evaluation | None = None,
    segmentation: Segmentation | None = None,
    class_models: list[ClassModelImage] | None = None,
) -> None:
    """Write the figures into ``figures`` and the Markdown report to ``out`` (figure links relative to it)."""
    figures.mkdir(parents=True, exist_ok=True)
    paths = [
        grid_figure(evaluation, figures / "grid.png", FIGURE_TILES),
        grid_figure(evaluation, figures / "grid_untrained.png", FIGURE_TILES // 2, untrained=True),
        cascade_figure(evaluation, figures / "sanity.png"),
    ]
    links = [os.path.relpath(path, out.parent) for path in paths]
    extra: list[str] = []
    if segmentation is not None:
        figure = segmentation_figure(segmentation, figures / "segmentation.png")
        extra += ["", *segmentation_section(segmentation, os.path.relpath(figure, out.parent))]
    if class_models:
        figure = class_model_figure(class_models, figures / "class_models.png")
        extra += ["", *class_model_section(class_models, os.path.relpath(figure, out.parent))]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(evaluation, links, ci, extra))


def _pair(trained: float, untrained: float, digits: int = 2) -> str:
    return f"**{trained:.{digits}f}** / {untrained:.{digits}f}"


def _row(s: Scores) -> str:
    cost = f"{s.ms_per_image:.2f} ({s.forward_passes:.1f}x)" if s.ms_per_image else ""
    return (
        f"| {s.label} | {_pair(s.pointing, s.pointing_untrained)} | {_pair(s.mass, s.mass_untrained)} "
        f"| {_pair(s.deletion, s.deletion_untrained, 3)} | {_pair(s.insertion, s.insertion_untrained, 3)} | {cost} |"
    )


def results_table(evaluation: Evaluation) -> list[str]:
    """The main table: one row per method, trained / untrained in each cell, then a random map."""
    random = evaluation.random
    return [
        "| method | pointing game | road mass | deletion AUC (lower is better) | insertion AUC (higher is better) "
        "| ms per image (x one forward pass) |",
        "|---|---:|---:|---:|---:|---:|",
        *(_row(s) for s in evaluation.scores),
        f"| random map | {random.pointing:.2f} | {random.mass:.2f} | {random.deletion:.3f} | {random.insertion:.3f} "
        "| |",
        f"| *one forward pass* (fastest of the rounds) | | | | | {evaluation.forward_ms:.2f} |",
    ]


def sanity_table(evaluation: Evaluation) -> list[str]:
    """Spearman correlation with the trained maps after each cumulative re-initialisation."""
    header = " | ".join(f"+{group}" for group in evaluation.groups)
    return [
        f"| method | {header} |",
        "|---|" + "---:|" * len(evaluation.groups),
        *(f"| {s.label} | " + " | ".join(f"{v:.2f}" for v in s.sanity) + " |" for s in evaluation.scores),
    ]


def bars_table(ci: Evaluation) -> list[str]:
    """Each CI bar beside the value the CI-sized run measured."""
    lines = [
        "| method | pointing game (bar) | road mass (bar) | mass margin over untrained (bar) | deletion AUC (bar) "
        "| correlation after full re-initialisation (bar) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in ci.scores:
        bar = BARS[s.label]
        lines.append(
            f"| {s.label} | {s.pointing:.2f} (>= {bar.pointing}) | {s.mass:.2f} (>= {bar.mass}) "
            f"| {s.mass - s.mass_untrained:.2f} (>= {bar.margin}) | {s.deletion:.3f} (<= {bar.deletion}) "
            f"| {s.sanity[-1]:.2f} (<= {bar.sanity}) |"
        )
    missed = all_failures(ci)
    lines += ["", "Bars missed by this run: " + ("; ".join(missed) if missed else "none.")]
    return lines


def header(evaluation: Evaluation) -> list[str]:
    """Where the numbers come from: command, model, tiles, machine."""
    manifest, options = evaluation.manifest, evaluation.options
    validation = manifest.get("metrics", {}).get("validation", {})
    quality = (
        f"validation accuracy {validation['accuracy']:.3f}, ROC AUC {validation['roc_auc']:.4f}"
        if {"accuracy", "roc_auc"} <= set(validation)
        else "no validation metrics in its manifest"
    )
    return [
        "# Explanation methods compared",
        "",
        f"Generated by `python -m training.explanations --tiles {options.tiles}` on "
        f"{datetime.now(UTC):%Y-%m-%d} in {evaluation.seconds / 60:.1f} min, from the artifact "
        f"`{manifest['name']}` version {manifest['version']} ({quality}), loaded by the service's own loader; "
        "the maps are computed by `service/explain`, the code the service runs.",
        "",
        f"Tiles: {len(evaluation.tiles.names)} road tiles with their masks, from {evaluation.tiles.source}. "
        f"Sanity check on the first {min(options.sanity_tiles, len(evaluation.tiles.names))}; deletion and "
        f"insertion curves in {options.curve_steps} steps. Machine: {platform.machine()} CPU, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, shared with other work (timings are "
        "comparable within the table only).",
    ]


def markdown(evaluation: Evaluation, figures: list[str], ci: Evaluation | None, extra: list[str] | None = None) -> str:
    """The whole report; ``extra``: the road-mask and class-model sections, placed before the served methods."""
    grid, untrained, sanity = figures
    lines = [
        *header(evaluation),
        "",
        "## Results",
        "",
        "Each cell is **trained model** / the same method on an untrained network of the same shape (fresh "
        "initialisation, same seed for every method). An explanation is only worth its margin over the untrained "
        "network: a map that finds roads without any training is describing the image, not the model. Deletion "
        "and insertion always score the trained model's probability; the second value orders the pixels by the "
        "untrained network's map.",
        "",
        *results_table(evaluation),
        "",
        "- **pointing game**: share of tiles whose map maximum lies on the road (mask dilated by 2 px).",
        "- **road mass**: share of the map inside the dilated mask over the mask's share of the tile (1 = a "
        "uniform map).",
        "- **deletion / insertion AUC** (RISE): the road probability as the most important pixels are set to "
        "black (deletion) or revealed on a blurred copy (insertion), area under the curve over the share of "
        "pixels changed.",
        "- **ms per image**: the method batched as the service runs it, on this machine (best of "
        f"{TIMED_RUNS} runs, one for SmoothGrad, occlusion and integrated gradients), and in brackets its ratio to "
        "one forward pass over the same tiles timed in alternation with it.",
        "",
        "## Sanity check (Adebayo et al., 2018)",
        "",
        "Spearman rank correlation of |map| between the trained model and the same model with its layer groups "
        "re-initialised cumulatively from the output down (the last column is the untrained network). A method "
        "that does not change is explaining the image, not the model.",
        "",
        *sanity_table(evaluation),
        "",
        f"![Sanity check]({sanity})",
        "",
        "## Figures",
        "",
        f"![Maps of the trained model]({grid})",
        "",
        f"![Maps of an untrained network]({untrained})",
        "",
        "## What the numbers mean for choosing a method",
        "",
        *guidance(evaluation),
        *(extra or []),
        "",
        *methods_section(),
    ]
    if ci is not None:
        lines += ["", "## CI bars", "", *ci_section(ci)]
    return "\n".join(lines) + "\n"


def ci_section(ci: Evaluation) -> list[str]:
    """What CI runs and the bars it holds every method to."""
    return [
        "`tests/explain/test_evaluation.py` runs a small version (12 fresh road tiles, 6 for the sanity check, "
        "SmoothGrad with 8 samples, integrated gradients with 16 steps, occlusion with stride 16) on `roadnet` "
        "version 1, the model the bars were set on, and fails when a method misses its bar "
        "(`training/explanations/ci.py`; later versions miss some, recorded as a strict xfail: see the model card). "
        "The bars were set from measured values with a margin; this run measured:",
        "",
        *bars_table(ci),
    ]


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) and not value.is_integer() else f"{int(value):d}"  # type: ignore[call-overload]


def _param(p: dict[str, object]) -> str:
    bounds = f" in [{_number(p['minimum'])}, {_number(p['maximum'])}]" if p["minimum"] is not None else ""
    choices = f", one of {', '.join(p['choices'])}" if p["choices"] else ""  # type: ignore[arg-type]
    default = "none" if p["default"] is None else p["default"]
    return f"`{p['name']}` ({p['type']}, default {default}{bounds}{choices})"


def methods_section() -> list[str]:
    """How the service serves the methods: the registry's table at the default settings, CAM, batching."""
    settings = Settings()
    cpu, cuda = (settings.explain_max_batch or default_explain_batch(torch.device(kind)) for kind in ("cpu", "cuda"))
    limits = Limits(
        settings.explain_max_samples,
        settings.explain_max_steps,
        settings.explain_min_window,
        settings.explain_min_stride,
    )
    rows = [
        f"| `{m['name']}` | {m['summary'].replace('|', '&#124;')} "  # a bare | would split the table cell
        f"| {'; '.join(_param(p) for p in m['params']) or 'none'} | {m['cost']} |"
        for m in describe_methods(limits)
        if m["applicable"]
    ]
    return [
        "## The methods as served",
        "",
        "`POST /explain/{method}` (one image; `format` png / npy / json, `size`, `overlay`, `raw`, `target`) and "
        "`GET /explain` (this table for the loaded model, with the limits of the running service). Limits at the "
        "default settings (ROADLENS_EXPLAIN_MAX_SAMPLES, ROADLENS_EXPLAIN_MAX_STEPS, ROADLENS_EXPLAIN_MIN_WINDOW, "
        "ROADLENS_EXPLAIN_MIN_STRIDE; 422 beyond them):",
        "",
        "| method | what it computes | parameters | cost per image |",
        "|---|---|---|---|",
        *rows,
        "",
        *(f"**`{name}` is not served** (422 `not_applicable`): {reason}" for name, reason in NOT_APPLICABLE.items()),
        "",
        "`target` is the explained score: the road logit by default, `not_road` for its negation (the evidence for "
        "the other decision), or a label name on a multi-label model. Requests from every client wait in one "
        "explanation queue per model and are flushed like `/predict`'s (ROADLENS_MAX_BATCH_SIZE, "
        "ROADLENS_MAX_WAIT_MS); in a device batch, requests with the same method and parameters make one call: "
        "one backward pass over the sum of the per-image scores gives every image its own gradient (BatchNorm runs "
        "in eval mode, so images do not interact), and the many forward passes of occlusion, SmoothGrad and "
        "integrated gradients are packed into device batches of at most ROADLENS_EXPLAIN_MAX_BATCH (by default "
        f"{cpu} on CPU, where larger batches spill the caches, and {cuda} on CUDA), never one at a time. All of it "
        "runs in the single device worker thread, outside `torch.inference_mode()`.",
    ]
