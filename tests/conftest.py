"""Shared fixtures: one tiny model store for the whole session, and the eager network it was exported from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from training.export import export_model
from training.model import ModelConfig, RoadNet, build_model


def sharpened(seed: int) -> RoadNet:
    """A fresh eval-mode network whose output layer is scaled up.

    Untrained, its logits differ by ~0.003 between pictures; scaled, probabilities spread over roughly
    0.3-0.8, so tests comparing outputs (and labels) between images can tell them apart.
    """
    model = build_model(ModelConfig(), seed=seed).eval()
    with torch.no_grad():
        model.output.weight.mul_(300.0)
        model.output.bias.fill_(-2.2)
    return model


@pytest.fixture(autouse=True)
def _no_roadlens_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings read ROADLENS_* variables: the developer's own must not change what the tests see.
    for name in list(os.environ):
        if name.startswith("ROADLENS_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def eager_model() -> RoadNet:
    """The eager network behind ``roadnet`` version 2, the store's default."""
    return sharpened(seed=0)


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory, eager_model: RoadNet) -> Path:
    """``roadnet`` version 1 (seed 1) and version 2 (``eager_model``), exported once per session. Read-only."""
    root = tmp_path_factory.mktemp("model_store")
    export_model(sharpened(seed=1), root, "roadnet")
    export_model(eager_model, root, "roadnet")
    return root
