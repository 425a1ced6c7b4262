"""Score ``POST /segment``'s road masks on the model's validation split against the true masks: per evidence map and
threshold rule, the trained model beside an untrained network of the same shape.

Rules (each applied only to tiles the network calls road, as the service does):

- ``top 3 %``: the 3 % of pixels with the most evidence; a fixed share is an oracle for how much road a tile holds.
- ``Otsu``: Otsu's threshold of the map itself.
- ``map >= t``: one threshold on the map, calibrated.
- ``served``: the service's rule (evidence region, light lines, cleaning), calibrated; for the served method, the
  rule stored in the manifest, exactly as served.
- ``lines only``: the same refinement on the whole tile, with no evidence at all (calibrated): what the image alone
  gives, so that the margin over it is what the evidence adds.

Calibration runs on ``segment_tiles.calibration_tiles``, never on the tiles scored; the untrained network is
calibrated on its own maps, the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from service.engine.artifact import read_manifest
from service.explain.base import Network
from service.explain.segmentation import SegmentRule, otsu_threshold, road_mask
from training.explanations.calibrate import NO_EVIDENCE_GRID, gate_threshold, search
from training.explanations.results import LabelledTiles, MaskScores, RuleScores, Segmentation
from training.explanations.sanity import randomised
from training.explanations.segment_maps import Evidence, evidence
from training.explanations.segment_metrics import score_masks, true_lengths
from training.explanations.segment_tiles import calibration_tiles, validation_split

MAPS: dict[str, SegmentRule] = {
    "visualbackprop": SegmentRule(normalize_overlap=False),
    "visualbackprop (overlap-normalised)": SegmentRule(normalize_overlap=True),
    "saliency": SegmentRule(method="saliency"),
    "guided_backprop": SegmentRule(method="guided_backprop"),
    "gradcam": SegmentRule(method="gradcam"),
    "guided_gradcam": SegmentRule(method="guided_gradcam"),
}
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
TOP_SHARE = 0.03
FIGURE_TILES = 8


@dataclass(frozen=True)
class SegmentOptions:
    """What to score: the artifact, tiles per class (validation and calibration), the dataset folder."""

    model_dir: Path
    per_class: int = 500
    calibration_per_class: int = 150
    data: Path | None = None


@dataclass
class EvaluatedNetwork:
    """One network under evaluation with its evidence on both tile sets, per map."""

    name: str
    network: Network
    validation: dict[str, Evidence]
    calibration: dict[str, Evidence]


def masks_of(found: Evidence, tiles: LabelledTiles, cut: Any) -> tuple[np.ndarray, float]:
    """``cut(map, image)`` on every tile the network calls road (empty elsewhere), and ms per such tile."""
    out = np.zeros(tiles.masks.shape, dtype=bool)
    started, called = time.perf_counter(), np.flatnonzero(found.gate)
    for i in called:
        out[i] = cut(found.maps[i], tiles.images[i].astype(np.float32) / 255.0)
    return out, 1000.0 * (time.perf_counter() - started) / max(len(called), 1)


def top_share(evidence_map: np.ndarray, _image: np.ndarray) -> np.ndarray:
    return evidence_map >= np.quantile(evidence_map, 1.0 - TOP_SHARE)


def otsu_map(evidence_map: np.ndarray, _image: np.ndarray) -> np.ndarray:
    return evidence_map >= otsu_threshold(evidence_map)


def calibrated_threshold(found: Evidence, tiles: LabelledTiles, lengths: np.ndarray) -> float:
    """The map threshold of ``THRESHOLDS`` with the best relaxed F1 on the calibration tiles."""
    scored = []
    for t in THRESHOLDS:
        masks, _ = masks_of(found, tiles, lambda m, _i, t=t: m >= t)
        scored.append((score_masks(masks, tiles.masks, tiles.road, lengths).f1, t))
    return max(scored)[1]


def rules_for(
    label: str, served: SegmentRule | None, found: Evidence, tiles: LabelledTiles, lengths: np.ndarray
) -> dict[str, tuple[str, Any]]:
    """Each rule's name and cut for one map on one network (calibrated on ``tiles`` where it needs it)."""
    rule = served if served is not None else search(found, tiles, MAPS[label])[0]
    t = calibrated_threshold(found, tiles, lengths)
    served_name = "served (as in the manifest)" if served is not None else "served rule (calibrated)"
    return {
        "top 3 %": ("top 3 % of the map (oracle share)", top_share),
        "otsu": ("Otsu on the map", otsu_map),
        "threshold": (f"map >= {t:g} (calibrated)", lambda m, _i, t=t: m >= t),
        "served": (served_name, lambda m, i, rule=rule: road_mask(m, i, rule)),
    }


def evaluate_segmentation(options: SegmentOptions) -> Segmentation:
    """Everything the report's road-mask section shows (see the module docstring)."""
    started = time.perf_counter()
    manifest = read_manifest(options.model_dir)
    validation = validation_split(manifest, options.per_class, options.data)
    calibration = calibration_tiles(manifest, options.calibration_per_class, options.data)
    lengths = {"validation": true_lengths(validation.masks), "calibration": true_lengths(calibration.masks)}
    served = SegmentRule.from_manifest(manifest)
    networks = [_network("trained", 0, options, manifest, validation, calibration)]
    networks.append(_network("untrained", 6, options, manifest, validation, calibration))
    rows, examples = _score_maps(networks, served, validation, calibration, lengths)
    rows.append(_lines_only(networks, validation, calibration, lengths))
    return Segmentation(
        served=served.to_manifest(),
        tiles=validation,
        calibration=calibration.source,
        rows=rows,
        examples=examples,
        example_rows=_example_rows(validation),
        seconds=time.perf_counter() - started,
    )


def _network(
    name: str,
    depth: int,
    options: SegmentOptions,
    manifest: dict[str, Any],
    validation: LabelledTiles,
    calibration: LabelledTiles,
) -> EvaluatedNetwork:
    network = randomised(options.model_dir, depth, 16)
    labels, threshold = [str(label) for label in manifest["labels"]], gate_threshold(manifest)
    return EvaluatedNetwork(
        name,
        network,
        {label: evidence(network, validation, base, labels, threshold) for label, base in MAPS.items()},
        {label: evidence(network, calibration, base, labels, threshold) for label, base in MAPS.items()},
    )


def _served_label(served: SegmentRule) -> str:
    """The ``MAPS`` entry of the served rule's map."""
    same = [label for label, base in MAPS.items() if base.method == served.method]
    exact = [label for label in same if MAPS[label].normalize_overlap == served.normalize_overlap]
    return (exact or same)[0]


def _score_maps(
    networks: list[EvaluatedNetwork],
    served: SegmentRule,
    validation: LabelledTiles,
    calibration: LabelledTiles,
    lengths: dict[str, np.ndarray],
) -> tuple[list[RuleScores], dict[str, np.ndarray]]:
    rows: list[RuleScores] = []
    examples: dict[str, np.ndarray] = {}
    served_label = _served_label(served)
    figure_rows = _example_rows(validation)
    for label in MAPS:
        scored: dict[str, dict[str, tuple[str, MaskScores, float, np.ndarray]]] = {}
        for net in networks:
            as_served = served if (label == served_label and net.name == "trained") else None
            cuts = rules_for(label, as_served, net.calibration[label], calibration, lengths["calibration"])
            scored[net.name] = {}
            for key, (name, cut) in cuts.items():
                masks, ms = masks_of(net.validation[label], validation, cut)
                scores = score_masks(masks, validation.masks, validation.road, lengths["validation"])
                scored[net.name][key] = (name, scores, ms, masks[figure_rows])
        for key in scored["trained"]:
            name, trained, ms, shown = scored["trained"][key]
            rows.append(RuleScores(label, name, trained, scored["untrained"][key][1], ms))
            if key == "served":
                examples[f"{label}: trained"] = shown
                examples[f"{label}: untrained"] = scored["untrained"][key][3]
        print(f"{label}: scored", flush=True)
    return rows, examples


def _lines_only(
    networks: list[EvaluatedNetwork],
    validation: LabelledTiles,
    calibration: LabelledTiles,
    lengths: dict[str, np.ndarray],
) -> RuleScores:
    """The refinement on the whole tile (no evidence), gated by each network's prediction."""
    scores = []
    for net in networks:
        found_cal = _whole_tile(net.calibration["visualbackprop"])
        rule, _ = search(found_cal, calibration, replace(SegmentRule(), evidence=0.0), NO_EVIDENCE_GRID)
        found = _whole_tile(net.validation["visualbackprop"])
        masks, ms = masks_of(found, validation, lambda m, i, rule=rule: road_mask(m, i, rule))
        scores.append((score_masks(masks, validation.masks, validation.road, lengths["validation"]), ms))
    name = "lines only, no evidence (calibrated)"
    return RuleScores("none (image only)", name, scores[0][0], scores[1][0], scores[0][1])


def _whole_tile(found: Evidence) -> Evidence:
    """The same gate, with evidence everywhere."""
    return Evidence(np.ones_like(found.maps), found.probabilities, found.gate)


def _example_rows(tiles: LabelledTiles) -> list[int]:
    """The figure's tiles: the first road tiles of the split, and two road-free ones."""
    roads = [int(i) for i in np.flatnonzero(tiles.road)[: FIGURE_TILES - 2]]
    return roads + [int(i) for i in np.flatnonzero(~tiles.road)[:2]]
