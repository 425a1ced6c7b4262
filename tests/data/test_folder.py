"""Users' own layouts (CSV, road/ + no_road/ folders) and layout detection."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from training.data.dataset import detect_layout, load_dataset
from training.data.folder import load_csv, load_folders, parse_label


def save(path: Path, colour: tuple[int, int, int], size: int = 40) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)


@pytest.fixture()
def folders(tmp_path: Path) -> Path:
    save(tmp_path / "road" / "a.png", (200, 150, 100))
    save(tmp_path / "road" / "nested" / "b.jpg", (200, 150, 100), size=256)
    save(tmp_path / "no_road" / "c.png", (20, 60, 20))
    (tmp_path / "no_road" / "notes.txt").write_text("not an image")
    return tmp_path


def test_folders_give_one_road_label(folders: Path) -> None:
    tiles = load_folders(folders, size=32)
    assert tiles.labels == ("road",) and tiles.images.shape == (3, 3, 32, 32)
    assert tiles.names == ["road/a.png", "road/nested/b.jpg", "no_road/c.png"]
    assert tiles.targets[:, 0].tolist() == [1.0, 1.0, 0.0]
    assert tiles.masks is None


def test_csv_accepts_numbers_and_names(tmp_path: Path) -> None:
    save(tmp_path / "img" / "x.png", (1, 2, 3))
    save(tmp_path / "img" / "y.png", (4, 5, 6))
    save(tmp_path / "img" / "z.png", (7, 8, 9))
    (tmp_path / "labels.csv").write_text("path,label\nimg/x.png,1\nimg/y.png,no_road\nimg/z.png,road\n")
    tiles = load_csv(tmp_path / "labels.csv", size=16)
    assert tiles.targets[:, 0].tolist() == [1.0, 0.0, 1.0]
    assert tiles.names == ["img/x.png", "img/y.png", "img/z.png"]
    assert tiles.images[1, :, 0, 0].tolist() == [4, 5, 6]


def test_unknown_labels_are_rejected() -> None:
    assert parse_label(" Road ") == 1.0 and parse_label("0") == 0.0
    with pytest.raises(ValueError, match="unknown label"):
        parse_label("maybe")


def test_load_dataset_detects_each_layout(folders: Path, tmp_path: Path) -> None:
    (tmp_path / "list.csv").write_text("path,label\nroad/a.png,1\n")
    assert detect_layout(folders) == "folders"
    assert detect_layout(tmp_path / "list.csv") == "csv"
    assert len(load_dataset(tmp_path / "list.csv", size=16)) == 1
    assert len(load_dataset(folders, size=16)) == 3
    (tmp_path / "train-jpg").mkdir()
    (tmp_path / "train_v2.csv").write_text("image_name,tags\n")
    assert detect_layout(tmp_path) == "planet"
    with pytest.raises(ValueError, match="not a dataset"):
        detect_layout(tmp_path / "road")


def test_only_the_planet_layout_has_several_labels(folders: Path) -> None:
    with pytest.raises(ValueError, match="single label"):
        load_dataset(folders, labels=("road", "water"))
