"""The Planet-layout loader on a hand-made folder of awkward images, and its cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.data.planet import load_planet
from training.data.tileset import ALL_PLANET_TAGS

RED, BLUE = (255, 0, 0), (0, 0, 255)


def write_awkward_tiles(folder: Path) -> dict[str, str]:
    """One image per awkward case; returns name -> tags."""
    jpg = folder / "train-jpg"
    jpg.mkdir(parents=True)
    Image.new("CMYK", (64, 64), (0, 255, 255, 0)).save(jpg / "cmyk.jpg", quality=95)  # red in CMYK
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[:32, :, 3] = 255  # top half opaque green, bottom half fully transparent
    Image.fromarray(rgba).save(jpg / "alpha.png")
    Image.fromarray(np.full((64, 64), 65535 // 2, np.uint16)).save(jpg / "deep.png")  # 16-bit mid grey
    palette = Image.new("P", (64, 64), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    palette.save(jpg / "palette.png")
    Image.new("RGB", (256, 256), (10, 120, 30)).save(jpg / "big.jpg", quality=95)
    sideways = np.zeros((32, 64, 3), np.uint8)
    sideways[:, :32] = RED  # stored: left half red, right half blue; EXIF orientation 6 = rotate 90 CW
    sideways[:, 32:] = BLUE
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(sideways).save(jpg / "rotated.jpg", quality=95, exif=exif)
    tags = {
        "cmyk": "clear primary road",
        "alpha": "haze water",
        "deep": "cloudy",
        "palette": "agriculture road",
        "big": "clear primary",
        "rotated": "habitation road",
    }
    rows = "".join(f"{name},{t}\n" for name, t in tags.items())
    (folder / "train_v2.csv").write_text("image_name,tags\n" + rows)
    return tags


@pytest.fixture()
def planet(tmp_path: Path) -> Path:
    write_awkward_tiles(tmp_path)
    return tmp_path


def mean_colour(image: np.ndarray) -> np.ndarray:
    return image.reshape(3, -1).mean(axis=1)


def test_every_mode_and_size_becomes_rgb_at_the_requested_size(planet: Path) -> None:
    tiles = load_planet(planet, size=48, cache=False)
    assert tiles.images.shape == (6, 3, 48, 48) and tiles.masks is None
    img = {name: tiles.images[i].numpy().astype(int) for i, name in enumerate(tiles.names)}
    np.testing.assert_allclose(mean_colour(img["cmyk"]), RED, atol=12)
    np.testing.assert_allclose(mean_colour(img["big"]), (10, 120, 30), atol=6)
    np.testing.assert_allclose(mean_colour(img["deep"]), (127, 127, 127), atol=2)
    np.testing.assert_allclose(mean_colour(img["palette"]), BLUE, atol=1)
    np.testing.assert_allclose(img["alpha"][:, :20].reshape(3, -1).mean(1), (0, 200, 0), atol=2)
    np.testing.assert_allclose(img["alpha"][:, 28:].reshape(3, -1).mean(1), (0, 0, 0), atol=2)  # over black


def test_exif_rotation_is_applied(planet: Path) -> None:
    tiles = load_planet(planet, size=48, cache=False)
    rotated = tiles.images[tiles.names.index("rotated")].numpy().astype(int)
    # rotated 90 degrees clockwise, the left (red) half of the stored pixels ends up on top
    np.testing.assert_allclose(mean_colour(rotated[:, :20]), RED, atol=15)
    np.testing.assert_allclose(mean_colour(rotated[:, 28:]), BLUE, atol=15)


def test_targets_follow_the_requested_labels(planet: Path) -> None:
    single = load_planet(planet, cache=False)
    assert single.labels == ("road",)
    assert single.targets[:, 0].tolist() == [1.0, 0.0, 0.0, 1.0, 0.0, 1.0]
    multi = load_planet(planet, labels=ALL_PLANET_TAGS, cache=False)
    assert multi.targets.shape == (6, 17)
    water = ALL_PLANET_TAGS.index("water")
    assert multi.targets[:, water].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert multi.targets.sum().item() == 12  # every tag of every row, once


def test_limit_keeps_the_first_rows(planet: Path) -> None:
    assert load_planet(planet, limit=2, cache=False).names == ["cmyk", "alpha"]


def test_cache_is_reused_for_any_labels_and_keyed_by_size(planet: Path) -> None:
    first = load_planet(planet, size=32, workers=1)
    multi = load_planet(planet, labels=ALL_PLANET_TAGS, size=32, workers=1, cache=False)
    shutil.rmtree(planet / "train-jpg")  # from now on only the cache can answer
    again = load_planet(planet, size=32, workers=1)
    assert again.names == first.names and again.labels == first.labels
    assert np.array_equal(again.images.numpy(), first.images.numpy())
    assert np.array_equal(again.targets.numpy(), first.targets.numpy())
    again_multi = load_planet(planet, labels=ALL_PLANET_TAGS, size=32, workers=1)
    assert np.array_equal(again_multi.targets.numpy(), multi.targets.numpy())
    with pytest.raises(FileNotFoundError):
        load_planet(planet, size=40, workers=1)


def test_a_missing_header_is_reported(tmp_path: Path) -> None:
    (tmp_path / "train-jpg").mkdir()
    (tmp_path / "train_v2.csv").write_text("name,labels\na,road\n")
    with pytest.raises(ValueError, match="image_name,tags"):
        load_planet(tmp_path, cache=False)
