"""The figures of ``docs/visualbackprop.md``, from a model in the store.

    python -m training.explanations.vbp_figures [--store model_store] [--name roadnet] [--version N]
        [--out DIR] [--tiles 12]

The model is the exported artifact, loaded and checked the way the service loads it, and the masks are
computed by the service's own VisualBackProp (``service.explain.visualbackprop``), so the pictures show what
``POST /visualbackprop`` answers. Tiles come from the model's validation split, rebuilt from its manifest: from
the dataset folder when it is there, else by regenerating the synthetic tiles; a model whose manifest records
no dataset is shown on fresh synthetic tiles instead (and ``figures.json`` says so).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from service.engine.artifact import LoadedModel, load_artifact
from service.engine.types import VBPOptions
from service.explain.visualbackprop import visualbackprop
from training.data.layout import CSV_NAME, IMAGE_DIR
from training.data.planet import find_image, read_tags
from training.data.split import split_indices
from training.data.synthetic import SyntheticConfig, make_tile
from training.explanations import vbp_plots as plots
from training.explanations.results import Explained, Tile

DEFAULT_OUT = Path("docs/figures/visualbackprop")
FRESH_SEED = 1_000  # synthetic tiles for a model without a recorded dataset: a seed no preset trains on


def model_folder(store: Path, name: str, version: int | None) -> Path:
    """``store/name/version``, the newest version when none is given."""
    if version is not None:
        return store / name / str(version)
    versions = [int(p.name) for p in (store / name).glob("*") if p.is_dir() and p.name.isdigit()]
    if not versions:
        raise SystemExit(f"no versions of {name!r} in {store}: train or export a model first")
    return store / name / str(max(versions))


def explain(model: LoadedModel, tiles: Sequence[Tile]) -> list[Explained]:
    """One forward pass for all tiles; the faithful mask (with its levels) and the overlap-normalised one."""
    height, width = model.input_size
    pixels = np.stack(
        [np.asarray(Image.fromarray(t.image).resize((width, height), Image.Resampling.BILINEAR)) for t in tiles]
    )
    batch = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(255.0)
    with torch.inference_mode():
        logits, features = model.module.forward_with_features(batch)
        faithful, levels = visualbackprop(features, model.blocks, model.input_size, VBPOptions(keep_layers=True))
        normalised, _ = visualbackprop(features, model.blocks, model.input_size, VBPOptions(normalize_overlap=True))
    probabilities = torch.sigmoid(logits[:, 0]).tolist()
    return [
        Explained(tile, probabilities[i], faithful[i].numpy(), normalised[i].numpy(), levels[i])
        for i, tile in enumerate(tiles)
    ]


def validation_indices(targets: Sequence[bool], dataset: dict[str, Any]) -> np.ndarray:
    """The validation split the training run used (same targets, size and seed as ``training.train``)."""
    _, validation = split_indices(
        np.asarray(targets, dtype=np.float32), int(dataset["validation"]), int(dataset["split_seed"])
    )
    return validation


def balanced(indices: np.ndarray, roads: Sequence[bool], count: int) -> list[int]:
    """The first ``count`` indices in split order, half with a road and half without, interleaved."""
    with_road = [int(i) for i in indices if roads[i]][: (count + 1) // 2]
    without = [int(i) for i in indices if not roads[i]][: count // 2]
    return [i for pair in zip(with_road, without, strict=False) for i in pair] + with_road[len(without) :]


def from_folder(root: Path, dataset: dict[str, Any], count: int) -> list[Tile]:
    """Validation tiles read from the dataset folder (the JPEGs the model was validated on)."""
    rows = read_tags(root / CSV_NAME)
    roads = ["road" in tags for _, tags in rows]
    chosen = balanced(validation_indices(roads, dataset), roads, count)
    tiles = []
    for index in chosen:
        with Image.open(find_image(root / IMAGE_DIR, rows[index][0])) as picture:
            tiles.append(Tile(np.asarray(picture.convert("RGB")), roads[index], f"validation {rows[index][0]}"))
    return tiles


def regenerated(dataset: dict[str, Any], count: int) -> list[Tile]:
    """Validation tiles regenerated from the synthetic dataset's seed (every tile's tags are needed for the split)."""
    version = int(dataset.get("generator_version", 1))  # the generator that wrote the model's dataset
    seed = int(dataset["seed"])
    config = SyntheticConfig(road_fraction=float(dataset.get("road_fraction", 0.5)), version=version)
    roads = ["road" in make_tile(seed, i, config).tags for i in range(int(dataset["count"]))]
    chosen = balanced(validation_indices(roads, dataset), roads, count)
    return [Tile(make_tile(seed, i, config).image, roads[i], f"validation train_{i} (regenerated)") for i in chosen]


def fresh(count: int) -> list[Tile]:
    """Synthetic tiles of a seed no training preset uses, half with a road."""
    tiles = [make_tile(FRESH_SEED, i) for i in range(8 * count)]
    roads = ["road" in t.tags for t in tiles]
    chosen = balanced(np.arange(len(tiles)), roads, count)
    return [Tile(tiles[i].image, roads[i], f"synthetic seed {FRESH_SEED} tile {i}") for i in chosen]


def gallery_tiles(manifest: dict[str, Any], count: int) -> tuple[list[Tile], str]:
    """Tiles for the figures and a sentence saying where they come from."""
    dataset = manifest.get("dataset") or {}
    if not {"validation", "split_seed"} <= set(dataset):
        return fresh(count), "fresh synthetic tiles (the model's manifest records no validation split)"
    root = Path(str(dataset.get("path", "")))
    if (root / CSV_NAME).is_file():
        return from_folder(root, dataset, count), f"the model's validation split, read from {root}"
    if dataset.get("kind") == "synthetic":
        return regenerated(dataset, count), "the model's validation split, regenerated from the synthetic seed"
    raise SystemExit(f"the validation data {root} is not there; pass --data or restore the dataset")


def main(argv: list[str] | None = None) -> None:
    """Load the model, pick the tiles, explain them, draw every figure, and write figures.json."""
    args = build_parser().parse_args(argv)
    model = load_artifact(model_folder(args.store, args.name, args.version), torch.device("cpu"))
    manifest = dict(model.manifest)
    if args.data is not None:
        manifest["dataset"] = {**manifest.get("dataset", {}), "path": str(args.data)}
    tiles, source = gallery_tiles(manifest, args.tiles)
    explained = explain(model, tiles)
    example = max((e for e in explained if e.tile.road), key=lambda e: e.probability, default=explained[0])
    args.out.mkdir(parents=True, exist_ok=True)
    written = plots.draw_all(args.out, model, example, explained)
    summary = facts(model, source, example, explained, written)
    (args.out / "figures.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {len(written)} figures and figures.json to {args.out}")


def facts(
    model: LoadedModel, source: str, example: Explained, explained: list[Explained], written: list[Path]
) -> dict[str, Any]:
    """What the figures show, for the text that cites them."""
    return {
        "model": {"name": model.key.name, "version": model.key.version, "metrics": model.manifest.get("metrics", {})},
        "tiles": source,
        "example": {"source": example.tile.source, "probability": round(example.probability, 4)},
        "gallery": [
            {"source": e.tile.source, "road": e.tile.road, "probability": round(e.probability, 4)} for e in explained
        ],
        "figures": [path.name for path in written],
    }


def build_parser() -> argparse.ArgumentParser:
    """The command's options."""
    parser = argparse.ArgumentParser(
        prog="python -m training.explanations.vbp_figures", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--store", type=Path, default=Path("model_store"), help="model store root (%(default)s)")
    parser.add_argument("--name", default="roadnet", help="model name (%(default)s)")
    parser.add_argument("--version", type=int, default=None, help="model version (default: the newest)")
    parser.add_argument("--data", type=Path, default=None, help="dataset folder (default: the manifest's)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (%(default)s)")
    parser.add_argument("--tiles", type=int, default=12, help="tiles in the gallery (%(default)s)")
    return parser


if __name__ == "__main__":
    main()
