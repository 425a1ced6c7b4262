"""Calibrating POST /segment's rule: the staged search scores exactly what the service's rule computes, picks the
best combination, and the rule lands in the manifest (by the command, and on export) without touching the rest."""

from __future__ import annotations

import json
import shutil
from dataclasses import astuple, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from service.engine.artifact import load_artifact
from service.explain.segmentation import SegmentRule, road_mask
from training.data.synthetic import SyntheticConfig, make_tile
from training.explanations.calibrate import GRID, main, search, versions
from training.explanations.results import LabelledTiles
from training.explanations.segment_maps import Evidence
from training.explanations.segment_metrics import score_masks, true_lengths
from training.export import export_model
from training.model import ModelConfig, build_model


def tiles_with_roads(count: int) -> LabelledTiles:
    """Generator tiles, half with a road, and their true masks."""
    made = [make_tile(11, i, SyntheticConfig(road_fraction=0.5)) for i in range(count)]
    return LabelledTiles(
        images=np.stack([t.image.transpose(2, 0, 1) for t in made]),
        masks=np.stack([t.road_mask for t in made]),
        road=np.array([t.road_mask.any() for t in made]),
        names=[str(i) for i in range(count)],
        source="test",
    )


def blurred_truth(tiles: LabelledTiles) -> Evidence:
    """Evidence that points at the true roads (a blurred mask), with every tile called road but the last."""
    maps = np.stack([ndimage.gaussian_filter(m.astype(np.float32), 2) for m in tiles.masks])
    maps /= np.maximum(maps.reshape(len(maps), -1).max(axis=1), 1e-6)[:, None, None]
    gate = np.ones(len(maps), dtype=bool)
    gate[-1] = False
    return Evidence(maps, gate.astype(np.float32), gate)


def test_the_staged_search_scores_what_the_services_rule_computes() -> None:
    tiles = tiles_with_roads(10)
    found = blurred_truth(tiles)
    grid = {"line_radius": (2,), "evidence": (0.1, 0.4), "contrast": (0.7, 1.2), "min_length": (6, 14)}
    rule, scores = search(found, tiles, SegmentRule(), grid)
    images = tiles.images.astype(np.float32) / 255.0
    masks = np.stack([road_mask(found.maps[i], images[i], rule) if found.gate[i] else np.zeros((96, 96), bool)
                      for i in range(len(images))])  # fmt: skip
    direct = score_masks(masks, tiles.masks, tiles.road, true_lengths(tiles.masks))
    assert astuple(direct) == pytest.approx(astuple(scores), rel=1e-9)  # lengths summed in another order
    for other in ({"evidence": 0.4}, {"contrast": 1.2}, {"min_length": 6}):
        if replace(rule, **other) != rule:
            _, alone = search(
                found, tiles, SegmentRule(), {k: (v,) for k, v in {**vars(rule), **other}.items() if k in grid}
            )
            assert alone.f1 <= scores.f1


def test_an_evidence_level_no_tile_reaches_is_never_chosen() -> None:
    tiles = tiles_with_roads(6)
    grid = {"line_radius": (2,), "evidence": (0.2, 1.0), "contrast": (0.8,), "min_length": (10,)}
    found = blurred_truth(tiles)
    found.maps[:] = np.minimum(found.maps, 0.9)
    rule, scores = search(found, tiles, SegmentRule(), grid)
    assert rule.evidence == 0.2 and scores.f1 > 0.5


@pytest.fixture
def store(model_store: Path, tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(model_store, root)
    return root


def test_the_command_writes_the_rule_into_the_manifest_and_nothing_else(store: Path) -> None:
    folder = store / "roadnet" / "2"
    before = json.loads((folder / "manifest.json").read_text())
    main(["--store", str(store), "--name", "roadnet", "--tiles", "4", "--threads", "1"])
    after = json.loads((folder / "manifest.json").read_text())
    entry = after.pop("segmentation")
    assert after == before and entry["calibrated"] is True and "relaxed_f1" in entry["calibration"]
    assert SegmentRule.from_manifest({"segmentation": entry}).calibrated
    assert entry["line_radius"] in GRID["line_radius"] and entry["contrast"] in GRID["contrast"]
    assert load_artifact(folder, torch.device("cpu")).key.version == 2  # the checksum still holds
    assert "segmentation" not in json.loads((store / "roadnet" / "1" / "manifest.json").read_text())


def test_which_versions_are_calibrated(store: Path) -> None:
    assert [p.name for p in versions(store, "roadnet", None, every=False)] == ["2"]
    assert [p.name for p in versions(store, "roadnet", 1, every=False)] == ["1"]
    assert [p.name for p in versions(store, "roadnet", None, every=True)] == ["1", "2"]
    with pytest.raises(SystemExit):
        versions(store, "roadnet", 7, every=False)


def test_export_can_calibrate_before_the_version_appears(tmp_path: Path) -> None:
    dataset = {"kind": "synthetic", "count": 100, "seed": 0, "validation": 40, "split_seed": 0}
    folder = export_model(build_model(ModelConfig(), seed=3), tmp_path, "fresh", {"dataset": dataset}, calibrate=True)
    assert json.loads((folder / "manifest.json").read_text())["segmentation"]["calibrated"] is True
    assert sorted(p.name for p in (tmp_path / "fresh").iterdir()) == ["1"]  # no staging folder left behind
