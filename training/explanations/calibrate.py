"""Choose ``POST /segment``'s rule for a model by measurement, and store it in the model's manifest.

    python -m training.explanations.calibrate [--store model_store] [--name roadnet] [--version N | --all]
        [--tiles 150] [--data DIR] [--method visualbackprop] [--faithful]

On tiles with true road masks that the evaluation never sees (``segment_tiles.calibration_tiles``), every
combination of ``GRID`` is scored and the one with the best relaxed F1 (ties: the smaller median length error) is
written to ``manifest.json`` as ``segmentation``, with what it scored and on which tiles. Only the manifest changes
(its checksum covers the TorchScript file, not the manifest); a running service reads it when it next starts.
``training/export.py`` runs this on every artifact it exports from a training run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from service.engine.artifact import MANIFEST_FILE, load_artifact, read_manifest
from service.engine.explainer import network_of
from service.explain.base import Network
from service.explain.registry import METHODS
from service.explain.roads import label_pieces, piece_lengths, skeletonize
from service.explain.segmentation import (
    SegmentRule,
    evidence_region,
    line_candidates,
    line_strength,
    piece_extents,
)
from training.explanations.results import LabelledTiles, MaskScores
from training.explanations.segment_maps import Evidence, evidence
from training.explanations.segment_metrics import iou, length_error, near, relaxed_counts, summarise, true_lengths
from training.explanations.segment_tiles import calibration_tiles

GRID: dict[str, tuple[float, ...]] = {
    "line_radius": (2, 3),
    "evidence": (0.05, 0.1, 0.15, 0.2, 0.3),
    "contrast": (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    "min_length": (6, 10, 14, 20, 28),
}
NO_EVIDENCE_GRID = GRID | {"evidence": (0.0,)}  # the region is the whole tile: the image alone, for comparison
PER_CLASS = 150


@dataclass(frozen=True)
class Truth:
    """One tile's true road mask, the pixels near it, whether the tile has a road, and the road's length."""

    mask: np.ndarray
    near: np.ndarray
    road: bool
    length: float


@dataclass
class Tally:
    """One candidate rule's running counts over the calibration tiles."""

    counts: np.ndarray
    ious: list[float]
    errors: list[float]
    free: list[float]

    @classmethod
    def empty(cls) -> Tally:
        return cls(np.zeros(4, dtype=np.int64), [], [], [])

    def add(self, predicted: np.ndarray, length: float, truth: Truth) -> None:
        """One tile's mask, and its skeleton length, against the truth."""
        self.counts += relaxed_counts(predicted, truth.mask, truth.near)
        if truth.road:
            self.ious.append(iou(predicted, truth.mask))
            self.errors.append(length_error(length, truth.length))
        else:
            self.free.append(float(predicted.mean()))

    def scores(self) -> MaskScores:
        return summarise(self.counts, self.ious, self.errors, self.free)


def _pieces(candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pieces' labels, extents (what the rule keeps them by) and skeleton lengths (what their road measures)."""
    labels, count = label_pieces(candidates)
    if count == 0:
        return labels, np.zeros(0), np.zeros(0)
    return labels, piece_extents(labels, count), piece_lengths(labels, count, skeletonize(candidates))


def search(
    found: Evidence, tiles: LabelledTiles, base: SegmentRule, grid: dict[str, tuple[float, ...]] = GRID
) -> tuple[SegmentRule, MaskScores]:
    """The combination of ``grid`` (over ``base``) whose masks score the best relaxed F1 on ``tiles``."""
    keys = list(itertools.product(grid["line_radius"], grid["evidence"], grid["contrast"], grid["min_length"]))
    tallies = {key: Tally.empty() for key in keys}
    lengths = true_lengths(tiles.masks)
    for i in range(len(tiles.images)):
        truth = Truth(tiles.masks[i], near(tiles.masks[i]), bool(tiles.road[i]), float(lengths[i]))
        if not found.gate[i]:
            empty = np.zeros_like(truth.mask)
            for tally in tallies.values():
                tally.add(empty, 0.0, truth)
            continue
        _score_tile(found.maps[i], tiles.images[i].astype(np.float32) / 255.0, truth, grid, tallies)
    best = max(keys, key=lambda k: (tallies[k].scores().f1, -tallies[k].scores().length_error))
    radius, evidence_at, contrast, min_length = best
    rule = replace(base, line_radius=int(radius), evidence=evidence_at, contrast=contrast, min_length=min_length)
    return rule, tallies[best].scores()


def _score_tile(
    evidence_map: np.ndarray,
    image: np.ndarray,
    truth: Truth,
    grid: dict[str, tuple[float, ...]],
    tallies: dict[tuple[float, float, float, float], Tally],
) -> None:
    """Every combination's mask of one tile, staged so that each step runs once per distinct input."""
    for radius in grid["line_radius"]:
        lines = line_strength(image, int(radius))
        for evidence_at in grid["evidence"]:
            region = evidence_region(evidence_map, replace(SegmentRule(), evidence=evidence_at))
            for contrast in grid["contrast"]:
                labels, extents, lengths = _pieces(line_candidates(lines, region, contrast))
                for min_length in grid["min_length"]:
                    keep = np.concatenate([[False], extents >= min_length])
                    predicted = keep[labels]
                    length = float(lengths[keep[1:]].sum())
                    tallies[(radius, evidence_at, contrast, min_length)].add(predicted, length, truth)


def gate_threshold(manifest: dict[str, Any]) -> float:
    """The manifest's decision threshold for the road label (0.5 when it names none)."""
    labels = [str(label) for label in manifest["labels"]]
    label = "road" if "road" in labels else labels[0]
    return float((manifest.get("thresholds") or {}).get(label, 0.5))


def calibrate_network(
    network: Network, manifest: dict[str, Any], tiles: LabelledTiles, base: SegmentRule | None = None
) -> tuple[SegmentRule, MaskScores]:
    """The best rule for ``network`` (its method is ``base.method``) on ``tiles``."""
    base = base or SegmentRule()
    labels = [str(label) for label in manifest["labels"]]
    found = evidence(network, tiles, base, labels, gate_threshold(manifest))
    rule, scores = search(found, tiles, base)
    return replace(rule, calibrated=True), scores


def calibrate_artifact(
    folder: Path, per_class: int = PER_CLASS, data: Path | None = None, base: SegmentRule | None = None
) -> SegmentRule:
    """Calibrate the artifact in ``folder`` (the map of ``base``: VisualBackProp, overlap-normalised, by default) and
    write the rule into its manifest; returns the rule."""
    model = load_artifact(folder, torch.device("cpu"))
    tiles = calibration_tiles(model.manifest, per_class, data)
    rule, scores = calibrate_network(network_of(model, 16), model.manifest, tiles, base)
    record = {
        **rule.to_manifest(),
        "calibration": {
            "tiles": f"{int(tiles.road.sum())} road and {int((~tiles.road).sum())} road-free tiles: {tiles.source}",
            "relaxed_f1": round(scores.f1, 4),
            "relaxed_precision": round(scores.precision, 4),
            "relaxed_recall": round(scores.recall, 4),
            "median_length_error": round(scores.length_error, 4),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }
    write_manifest(folder, {**read_manifest(folder), "segmentation": record})
    return rule


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Replace ``folder``'s manifest atomically (a reader sees the old file or the new one, never half of one)."""
    handle, staging = tempfile.mkstemp(prefix=".manifest-", dir=folder)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(json.dumps(manifest, indent=2) + "\n")
        os.chmod(staging, 0o644)
        os.replace(staging, folder / MANIFEST_FILE)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def versions(store: Path, name: str, version: int | None, every: bool) -> list[Path]:
    """The artifact folders to calibrate: one version (default: the newest), or every version with ``every``."""
    found = sorted((int(p.name), p) for p in (store / name).glob("*") if p.is_dir() and p.name.isdigit())
    if not found:
        raise SystemExit(f"no version of {name!r} in {store}")
    if every:
        return [path for _, path in found]
    if version is None:
        return [found[-1][1]]
    chosen = [path for number, path in found if number == version]
    if not chosen:
        raise SystemExit(f"{name} has no version {version} in {store}")
    return chosen


def main(argv: list[str] | None = None) -> None:
    """Calibrate, write, and say what was chosen."""
    parser = argparse.ArgumentParser(
        prog="python -m training.explanations.calibrate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--store", type=Path, default=Path("model_store"), help="model store root")
    parser.add_argument("--name", default="roadnet", help="model name")
    parser.add_argument("--version", type=int, default=None, help="model version (default: the newest)")
    parser.add_argument("--all", action="store_true", help="every version of the model")
    parser.add_argument("--tiles", type=int, default=PER_CLASS, help="calibration tiles per class (road, road-free)")
    parser.add_argument("--data", type=Path, default=None, help="dataset folder (default: the manifest's)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--method", choices=sorted(METHODS), default="visualbackprop", help="the evidence map (%(default)s)"
    )
    parser.add_argument(
        "--faithful", action="store_true", help="visualbackprop: the faithful mask, not the overlap-normalised one"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = SegmentRule(method=args.method, normalize_overlap=not args.faithful)
    for folder in versions(args.store, args.name, args.version, args.all):
        rule = calibrate_artifact(folder, args.tiles, args.data, base)
        scores = read_manifest(folder)["segmentation"]["calibration"]
        print(
            f"{folder}: {rule} (relaxed F1 {scores['relaxed_f1']}, median length error {scores['median_length_error']})"
        )


if __name__ == "__main__":
    main()
