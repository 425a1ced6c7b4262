"""One entry point that recognises the layout of a dataset and loads it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from training.data.folder import NO_ROAD_DIR, ROAD_DIR, load_csv, load_folders
from training.data.layout import CSV_NAME
from training.data.planet import load_planet
from training.data.tileset import DEFAULT_LABELS, TileSet


def detect_layout(path: str | Path) -> str:
    """``"planet"`` (a folder with train_v2.csv), ``"csv"`` (a path,label CSV) or ``"folders"`` (road/ + no_road/)."""
    path = Path(path)
    if path.is_dir() and (path / CSV_NAME).is_file():
        return "planet"
    if path.is_file() and path.suffix.lower() == ".csv":
        return "csv"
    if path.is_dir() and (path / ROAD_DIR).is_dir() and (path / NO_ROAD_DIR).is_dir():
        return "folders"
    raise ValueError(f"{path}: not a dataset (expected {CSV_NAME}, a path,label CSV, or road/ and no_road/ folders)")


def load_dataset(
    path: str | Path,
    labels: Sequence[str] = DEFAULT_LABELS,
    size: int = 96,
    limit: int | None = None,
    workers: int = 2,
) -> TileSet:
    """Load a dataset in any supported layout (see :func:`detect_layout`) as a :class:`TileSet`.

    Only the Planet layout carries several tags; the CSV and folder layouts support ``labels=("road",)`` only.
    """
    layout = detect_layout(path)
    if layout == "planet":
        return load_planet(path, labels, size, limit, workers)
    if tuple(labels) != DEFAULT_LABELS:
        raise ValueError(f"the {layout} layout has the single label 'road', not {tuple(labels)}")
    if layout == "csv":
        return load_csv(path, size, limit, workers)
    return load_folders(path, size, limit, workers)
