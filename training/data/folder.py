"""Users' own road / no-road data in the two plainest layouts.

- A CSV with the header ``path,label``: ``path`` relative to the CSV's folder (or absolute), ``label`` one of
  ``1``/``road``/``true``/``yes`` or ``0``/``no_road``/``false``/``no``.
- A folder with ``road/`` and ``no_road/`` subfolders of images (searched recursively).

Both give a single-label :class:`TileSet` (label ``"road"``, no masks), decoded like the Planet layout.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from training.data.imaging import read_rgb
from training.data.layout import IMAGE_SUFFIXES
from training.data.planet import parallel_map
from training.data.tileset import DEFAULT_LABELS, TileSet

POSITIVE = frozenset({"1", "road", "true", "yes"})
NEGATIVE = frozenset({"0", "no_road", "false", "no"})
ROAD_DIR, NO_ROAD_DIR = "road", "no_road"


def parse_label(value: str) -> float:
    """1.0 for a road label, 0.0 for a no-road label; anything else is an error (typos must not pass silently)."""
    key = value.strip().lower()
    if key in POSITIVE:
        return 1.0
    if key in NEGATIVE:
        return 0.0
    raise ValueError(f"unknown label {value!r}: use 0/1, road/no_road, true/false or yes/no")


def load_csv(csv_path: str | Path, size: int = 96, limit: int | None = None, workers: int = 2) -> TileSet:
    """Load a ``path,label`` CSV (see module docstring) as a single-label TileSet."""
    csv_path = Path(csv_path)
    with csv_path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"path", "label"} <= set(reader.fieldnames):
            raise ValueError(f"{csv_path}: expected the header 'path,label'")
        rows = [(csv_path.parent / row["path"], parse_label(row["label"])) for row in reader][:limit]
    return _tileset([p for p, _ in rows], [y for _, y in rows], size, workers, base=csv_path.parent)


def load_folders(root: str | Path, size: int = 96, limit: int | None = None, workers: int = 2) -> TileSet:
    """Load ``root/road/**`` (label 1) and ``root/no_road/**`` (label 0) as a single-label TileSet."""
    root = Path(root)
    paths: list[Path] = []
    targets: list[float] = []
    for folder, target in ((ROAD_DIR, 1.0), (NO_ROAD_DIR, 0.0)):
        found = sorted(p for p in (root / folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += found
        targets += [target] * len(found)
    return _tileset(paths[:limit], targets[:limit], size, workers, base=root)


def _tileset(paths: list[Path], targets: list[float], size: int, workers: int, base: Path) -> TileSet:
    images = parallel_map(read_rgb, paths, size, workers)
    stacked = np.stack(images) if images else np.zeros((0, 3, size, size), dtype=np.uint8)
    return TileSet(
        images=torch.from_numpy(stacked),
        targets=torch.tensor(targets, dtype=torch.float32).reshape(-1, 1),
        names=[_name(p, base) for p in paths],
        labels=DEFAULT_LABELS,
    )


def _name(path: Path, base: Path) -> str:
    """The tile's path relative to the dataset (unique, unlike the bare file name)."""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()
