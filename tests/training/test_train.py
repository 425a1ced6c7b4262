"""The training pipeline end to end on the tiny preset: learns, exports, resumes, and is deterministic."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from training.config import PRESETS, TrainConfig
from training.train import run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainConfig, dict]:
    root = tmp_path_factory.mktemp("tiny")
    config = replace(PRESETS["tiny"], data=root / "data", out=root / "run", store=root / "store", progress=False)
    return config, run(config)


def test_tiny_preset_clearly_beats_chance(tiny_run: tuple[TrainConfig, dict]) -> None:
    config, summary = tiny_run
    positives = summary["dataset"]["positives"]["road"] / summary["dataset"]["size"]
    chance = max(positives, 1 - positives)
    assert summary["validation"]["accuracy"] >= chance + 0.2, summary["validation"]
    assert summary["validation"]["roc_auc"] >= 0.85
    assert summary["dataset"]["validation"] == config.n_val


def test_run_writes_curves_checkpoints_and_an_artifact(tiny_run: tuple[TrainConfig, dict]) -> None:
    config, summary = tiny_run
    history = json.loads((config.out / "curves.json").read_text())
    assert [record["epoch"] for record in history] == list(range(1, config.epochs + 1))
    assert {"train_loss", "val_loss", "val_accuracy", "val_precision", "val_recall", "val_f1", "val_f2"} <= set(
        history[0]
    )
    assert (config.out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    folder = Path(summary["exported"])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["thresholds"] == summary["thresholds"]
    assert manifest["metrics"]["validation"]["accuracy"] == pytest.approx(summary["validation"]["accuracy"])
    assert manifest["dataset"]["kind"] == "synthetic" and manifest["dataset"]["seed"] == config.data_seed
    assert manifest["training"]["batch_size"] == 96 and manifest["training"]["lr"] == 0.01
    assert (folder / "curves.png").exists()
    best = torch.load(config.out / "best.pt", weights_only=False)
    assert best["metadata"]["thresholds"] == summary["thresholds"]


def test_resume_continues_where_it_stopped(tiny_run: tuple[TrainConfig, dict], tmp_path: Path) -> None:
    config, _ = tiny_run
    short = replace(config, out=tmp_path, store=None, epochs=2, max_steps_per_epoch=3)
    assert run(short, stop_after=1)["stopped_after"] == 1
    resumed = run(short, resume=True)
    run(replace(short, out=tmp_path / "straight"))
    first = torch.load(tmp_path / "last.pt", weights_only=False)
    second = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)
    assert first["epoch"] == 2 and resumed["best_epoch"] in (1, 2)
    for name, tensor in first["model_state"].items():
        assert torch.equal(tensor, second["model_state"][name]), name  # resume == uninterrupted, bit for bit
