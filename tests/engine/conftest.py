"""Fixtures of the engine tests: a model store holding tiny exported artifacts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from training.export import export_model
from training.model import ModelConfig, build_model


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny`` versions 1 and 2 (different weights) and ``zeta`` version 1, exported once per session."""
    root = tmp_path_factory.mktemp("store")
    export_model(build_model(ModelConfig(), seed=0), root, "tiny")
    export_model(build_model(ModelConfig(), seed=1), root, "tiny")
    export_model(build_model(ModelConfig(), seed=2), root, "zeta")
    return root


@pytest.fixture
def store(store_template: Path, tmp_path: Path) -> Path:
    """A private copy of the store that a test may damage."""
    root = tmp_path / "store"
    shutil.copytree(store_template, root)
    return root
