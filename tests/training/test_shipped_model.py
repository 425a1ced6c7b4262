"""The model committed under model_store/: intact, described, and as good as its manifest says."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from training.data.dataset import load_dataset
from training.data.generate import write_dataset
from training.data.synthetic import SyntheticConfig
from training.export import sha256_of
from training.metrics import score

STORE = Path(__file__).resolve().parents[2] / "model_store"
FRESH_SEED = 20_261_121  # not the training data's seed: these tiles were never seen in training


def shipped_version() -> Path:
    versions = sorted((STORE / "roadnet").iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else -1)
    assert versions and versions[-1].name.isdigit(), "model_store/roadnet has no numeric version"
    return versions[-1]


@pytest.fixture(scope="module")
def manifest() -> dict:
    return dict(json.loads((shipped_version() / "manifest.json").read_text()))


def test_artifact_checksum_matches_manifest(manifest: dict) -> None:
    assert sha256_of(shipped_version() / manifest["file"]) == manifest["sha256"]


def test_manifest_reports_the_recorded_quality(manifest: dict) -> None:
    validation = manifest["metrics"]["validation"]
    assert manifest["dataset"]["validation"] == 8_095 and manifest["dataset"]["train"] == 32_384
    assert validation["accuracy"] >= 0.97 and validation["roc_auc"] >= 0.99  # roadnet/5: 97.10 %, 0.9962


def test_manifest_reports_the_required_synthetic_quality(manifest: dict) -> None:
    validation = manifest["metrics"]["validation"]
    assert validation["accuracy"] >= 0.97 and validation["roc_auc"] >= 0.99


def test_shipped_model_holds_its_accuracy_on_fresh_tiles(manifest: dict, tmp_path: Path) -> None:
    version = int(manifest["dataset"]["generator_version"])  # fresh tiles from the generator it was trained on
    write_dataset(tmp_path, count=400, seed=FRESH_SEED, config=SyntheticConfig(version=version))
    tiles = load_dataset(tmp_path, labels=tuple(manifest["labels"]), size=manifest["input"]["height"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = torch.jit.load(str(shipped_version() / manifest["file"]))
    with torch.no_grad():
        probabilities = torch.sigmoid(model(tiles.images.float() / 255)).numpy()
    threshold = manifest["thresholds"]["road"]
    fresh = score(probabilities, tiles.targets.numpy(), loss=0.0, threshold=threshold)
    assert fresh.accuracy >= manifest["metrics"]["validation"]["accuracy"] - 0.02, fresh
