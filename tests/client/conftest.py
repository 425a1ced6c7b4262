"""Fixtures of the client and command-line tests: the live server (API keys on), and tile files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.client.live import LiveServer, shared_live_server
from training.data.synthetic import SyntheticConfig, make_tile

TILES = 4


@pytest.fixture(scope="session")
def server(model_store: Path, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> LiveServer:
    """``python -m service`` on the session's tiny store, with API key ``API_KEY`` required."""
    return shared_live_server(model_store, tmp_path_factory, pytestconfig)


@pytest.fixture(scope="session")
def tiles() -> list[np.ndarray]:
    """A few synthetic tiles, RGB uint8 96 x 96 x 3."""
    return [make_tile(11, index, SyntheticConfig()).image for index in range(TILES)]


@pytest.fixture(scope="session")
def tile_dir(tiles: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiles as PNG files, one of them in a sub-folder as JPEG."""
    folder = tmp_path_factory.mktemp("tiles")
    (folder / "nested").mkdir()
    for index, tile in enumerate(tiles[:-1]):
        Image.fromarray(tile).save(folder / f"tile-{index}.png")
    Image.fromarray(tiles[-1]).save(folder / "nested" / "last.jpg", quality=95)
    return folder
