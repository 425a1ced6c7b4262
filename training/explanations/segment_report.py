"""The report's sections on ``POST /segment`` (road masks against the true ones) and ``GET /class-model``."""

from __future__ import annotations

import numpy as np

from training.explanations.results import ClassModelImage, MaskScores, RuleScores, Segmentation
from training.explanations.segment_metrics import SLACK

# The targets the masks and the images are held to (issue 15), each checked on the served rule.
TARGET_F1 = 0.90
TARGET_LENGTH_ERROR = 0.15
TARGET_FREE_SHARE = 0.005
TARGET_ROAD, TARGET_NOT_ROAD, TARGET_SECONDS = 0.99, 0.01, 2.0


def _pair(trained: float, untrained: float, digits: int = 3, percent: bool = False) -> str:
    scale, unit = (100.0, " %") if percent else (1.0, "")
    return f"**{trained * scale:.{digits}f}**{unit} / {untrained * scale:.{digits}f}{unit}"


def _free(scores: MaskScores) -> str:
    return f"{100 * scores.free_share:.2f} ({100 * scores.free_share_mean:.2f})"


def _row(row: RuleScores) -> str:
    t, u = row.trained, row.untrained
    return (
        f"| {row.method} | {row.rule} | {_pair(t.precision, u.precision)} | {_pair(t.recall, u.recall)} "
        f"| {_pair(t.f1, u.f1)} | {_pair(t.iou, u.iou)} | {_pair(t.length_error, u.length_error, 1, True)} "
        f"| **{_free(t)}** / {_free(u)} | {row.ms_per_tile:.2f} |"
    )


def served_row(segmentation: Segmentation) -> RuleScores:
    """The row of the rule the service applies."""
    return next(row for row in segmentation.rows if row.rule.startswith("served (as in the manifest)"))


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def targets(row: RuleScores) -> list[str]:
    """Each target, the served rule's value beside the untrained network's, and whether it is met."""
    t, u = row.trained, row.untrained
    return [
        f"- relaxed F1 at {SLACK} px >= {TARGET_F1}: **{t.f1:.3f}** (untrained network {u.f1:.3f}): "
        f"{_verdict(t.f1 >= TARGET_F1)}.",
        f"- median road-length error <= {TARGET_LENGTH_ERROR:.0%}: **{t.length_error:.1%}** (untrained "
        f"{u.length_error:.1%}): {_verdict(t.length_error <= TARGET_LENGTH_ERROR)}.",
        f"- median share of a road-free tile called road <= {TARGET_FREE_SHARE:.1%}: **{t.free_share:.2%}**, mean "
        f"{t.free_share_mean:.3%} (untrained {u.free_share:.2%}, mean {u.free_share_mean:.2%}): "
        f"{_verdict(t.free_share <= TARGET_FREE_SHARE)}.",
    ]


def segmentation_section(segmentation: Segmentation, figure: str) -> list[str]:
    """The road-mask section: what is served, the table, the targets, the figure."""
    tiles, served = segmentation.tiles, segmentation.served
    rule = ", ".join(f"`{k}` {v}" for k, v in served.items() if k not in ("calibration", "method"))
    return [
        "## Road masks (`POST /segment`)",
        "",
        f"The mask is cut from the model's own evidence (`{served['method']}`; {rule}): the evidence region, the "
        "light lines of the image inside it (white top-hat, Otsu's threshold times the calibrated factor), pieces "
        "shorter than the calibrated length dropped, and nothing at all on a tile the model calls road-free. The "
        "rule was chosen on calibration tiles the table never sees "
        f"({segmentation.calibration}) by `python -m training.explanations.calibrate`, which stored it in the "
        "manifest; `training/export.py` runs it on every model it exports from a training run.",
        "",
        f"Scored on {int(tiles.road.sum())} road and {int((~tiles.road).sum())} road-free tiles of "
        f"{tiles.source}, against their true masks. Each cell is **trained model** / an untrained network of the same "
        "shape (every layer re-initialised) put through the same pipeline: its maps, its calibration on the same "
        "calibration tiles, and its gate. The untrained network's probabilities all sit near 0.5, above the "
        "manifest's threshold, so its gate lets every tile through: its road-free figures are what a mask costs "
        "without a trained decision.",
        "",
        "| evidence map | rule | relaxed precision | relaxed recall | relaxed F1 | IoU | median length error "
        "| road-free tiles: median (mean) % called road | ms per tile called road |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *(_row(row) for row in segmentation.rows),
        "",
        f"- **relaxed precision / recall** (Mnih & Hinton, 2010): a predicted road pixel counts when a true one lies "
        f"within {SLACK} px (Euclidean), and the other way round; pooled over all tiles (road-free tiles add to the "
        "predicted pixels only). **F1**: their harmonic mean. **IoU**: strict, the mean over road tiles.",
        "- **length error**: |skeleton length of the mask - that of the true mask| / the true one, the median over "
        "road tiles (the length `format=json` reports: Zhang-Suen skeleton, 1 per straight and sqrt(2) per diagonal "
        "step). A road tile the model calls road-free scores recall 0 and length error 100 %.",
        "- **ms per tile**: the rule alone on this machine (the map not included), per tile called road; the "
        "service runs it in its image threads.",
        "",
        "Targets, on the served rule:",
        "",
        *targets(served_row(segmentation)),
        "",
        *_reading(segmentation),
        "",
        f"![Road masks]({figure})",
    ]


def _reading(segmentation: Segmentation) -> list[str]:
    """What the table says, from its own numbers."""
    rows = segmentation.rows
    served = served_row(segmentation)
    lines_only = next(row for row in rows if row.method.startswith("none"))
    evidence_only = [row for row in rows if row.rule.startswith(("top 3", "Otsu", "map >="))]
    best_plain = max(evidence_only, key=lambda row: row.trained.f1)
    full_rules = [row for row in rows if row.rule.startswith("served")]
    best = max(full_rules, key=lambda row: row.trained.f1)
    t, image = served.trained, lines_only.trained
    lines = [
        f"- **The evidence alone** is not a mask: the best rule on a map alone (`{best_plain.method}`, "
        f"{best_plain.rule}) reaches relaxed F1 {best_plain.trained.f1:.3f}; the maps are blurred a few pixels "
        "around the road and light up houses and cloud edges too.",
        f"- **The image does most of the cutting.** The same line refinement over the whole tile, with no evidence "
        f"but the prediction's gate, reaches F1 {image.f1:.3f} (precision {image.precision:.3f}, median length error "
        f"{image.length_error:.1%}); the evidence region adds {t.f1 - image.f1:+.3f} F1 and "
        f"{t.precision - image.precision:+.3f} precision (served: {t.f1:.3f}, precision {t.precision:.3f}, recall "
        f"{t.recall:.3f}), by keeping field texture and houses away from the road the model saw. On these synthetic "
        "tiles roads are by construction the lightest thin lines; the evidence matters more where they are not.",
        f"- **Training's share** is the gap to the untrained network through the same pipeline: F1 {t.f1:.3f} vs "
        f"{served.untrained.f1:.3f} (its maps are calibrated just as well), and the gate: the untrained network calls "
        f"every tile road, and marks {served.untrained.free_share_mean:.1%} of a road-free tile on average, against "
        f"{t.free_share_mean:.2%}.",
    ]
    if best is not served:
        lines.append(
            f"- **Which map.** With the same rule, `{best.method}` scores F1 {best.trained.f1:.3f} and median length "
            f"error {best.trained.length_error:.1%} (served `{served.method}`: {t.f1:.3f}, {t.length_error:.1%}). The "
            "service keeps VisualBackProp: it rides on the batched forward pass of `/predict` (no gradient, about the "
            "cost of a prediction), where every gradient map needs a backward pass through the explanation queue. "
            "`python -m training.explanations.calibrate --method gradcam` calibrates and stores another map for a "
            "model, and `POST /segment` then uses it."
        )
    return lines


def class_model_section(images: list[ClassModelImage], figure: str) -> list[str]:
    """The class-model section: the table of scores and times, the targets, the figure."""
    trained = [i for i in images if i.network == "trained"]
    road = [i.probability for i in trained if i.target == "road"]
    not_road = [i.probability for i in trained if i.target == "not_road"]
    seconds = [i.seconds for i in trained]
    rows = [f"| {i.network} | {i.target} | {i.seed} | {i.probability:.5f} | {i.seconds:.2f} |" for i in images]
    return [
        "## Class models (`GET /class-model`)",
        "",
        f"Gradient ascent on the input for the target's logit ({trained[0].steps} steps, the default), with an L2 "
        "penalty towards the training mean colour and the regularisers of Yosinski et al. (2015): jitter, a blur "
        "every few steps, clipping of the least contributing pixels, then a few plain steps (see "
        "`service/explain/class_model.py`). The probability is the network's own road probability of the image "
        "after the 8-bit rounding of a PNG, as `POST /predict` scores the PNG the endpoint serves; the time is one "
        "ascent on this machine's CPU (the best of three identical ascents, after a warm-up ascent; the first request "
        "of a process also pays for TorchScript's profiling runs).",
        "",
        "| network | target | seed | p(road) | seconds |",
        "|---|---|---:|---:|---:|",
        *rows,
        "",
        f"- road >= {TARGET_ROAD} for `road`: lowest {min(road):.5f}: {_verdict(min(road) >= TARGET_ROAD)}; "
        f"road <= {TARGET_NOT_ROAD} for `not_road`: highest {max(not_road):.5f}: "
        f"{_verdict(max(not_road) <= TARGET_NOT_ROAD)}.",
        f"- under {TARGET_SECONDS:g} s each: slowest {max(seconds):.2f} s, median {float(np.median(seconds)):.2f} s: "
        f"{_verdict(max(seconds) < TARGET_SECONDS)}.",
        *_untrained_note(images),
        "",
        f"![Class models]({figure})",
    ]


def _untrained_note(images: list[ClassModelImage]) -> list[str]:
    untrained = [i for i in images if i.network == "untrained"]
    if not untrained:
        return []
    low, high = min(i.probability for i in untrained), max(i.probability for i in untrained)
    return [
        f"- The untrained network's images span p(road) {low:.3f}-{high:.3f} under the same ascent: its logit hardly "
        "moves whatever the input, so there is no class to draw."
    ]
