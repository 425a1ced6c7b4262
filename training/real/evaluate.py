"""Score a model artifact on the real tiles, per source: ``python -m training.real.evaluate --model DIR``.

For each source (and all together): how many road tiles are called road and how many road-free tiles are left
alone at the model's stored threshold (and at any ``--threshold`` given), and the ranking ROC-AUC. ``--planet``
adds a folder of Planet chips in Planet's layout (``tags.csv`` or ``train_v2.csv`` + JPEGs; a chip is a road
chip when its tags include ``road``).
"""

from __future__ import annotations

import argparse
import csv
import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.data.dataset import load_dataset
from training.data.imaging import read_rgb
from training.metrics import roc_auc


@dataclass(frozen=True)
class RealScores:
    """Road tiles called road (``recall``) and road-free tiles left alone (``specificity``) at ``threshold``."""

    tiles: int
    road: int
    no_road: int
    roads_found: int
    free_left_alone: int
    recall: float
    specificity: float
    accuracy: float
    roc_auc: float
    threshold: float


def real_scores(probabilities: np.ndarray, targets: np.ndarray, threshold: float) -> RealScores:
    actual = targets.ravel() >= 0.5
    called = probabilities.ravel() >= threshold
    road, free = int(actual.sum()), int((~actual).sum())
    found, left = int((called & actual).sum()), int((~called & ~actual).sum())
    return RealScores(
        tiles=road + free,
        road=road,
        no_road=free,
        roads_found=found,
        free_left_alone=left,
        recall=found / road if road else float("nan"),
        specificity=left / free if free else float("nan"),
        accuracy=(found + left) / max(road + free, 1),
        roc_auc=roc_auc(probabilities.ravel(), actual.astype(np.float32)),
        threshold=threshold,
    )


def load_artifact(folder: Path) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    manifest = json.loads((folder / "manifest.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = torch.jit.load(str(folder / manifest["file"]), map_location="cpu")
    model.eval()
    return model, manifest


@torch.no_grad()
def probabilities_of(model: torch.nn.Module, images: torch.Tensor, batch: int = 256) -> np.ndarray:
    """Road probabilities of uint8 N x 3 x H x W images."""
    chunks = [torch.sigmoid(model(images[i : i + batch].float() / 255.0)) for i in range(0, len(images), batch)]
    return torch.cat(chunks).numpy()[:, 0] if chunks else np.zeros(0, dtype=np.float32)


def tile_groups(data: Path) -> dict[str, tuple[str, str]]:
    """``tiles/<name>.png -> (source, source/scene)`` from the index the builder wrote."""
    index = json.loads((data / "tiles.json").read_text())
    return {f"tiles/{e['name']}.png": (str(e["source"]), f"{e['source']}/{e['scene']}") for e in index}


def load_planet_chips(folder: Path, size: int = 96) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """Planet chips (``tags.csv`` or ``train_v2.csv`` with ``image_name,tags`` and ``<name>.jpg``) and road targets."""
    table = folder / "tags.csv" if (folder / "tags.csv").exists() else folder / "train_v2.csv"
    with table.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    paths = []
    for row in rows:
        candidates = [folder / f"{row['image_name']}.jpg", folder / "train-jpg" / f"{row['image_name']}.jpg"]
        paths.append(next(p for p in candidates if p.exists()))
    images = torch.from_numpy(np.stack([read_rgb(path, size) for path in paths]))
    targets = np.asarray([float("road" in row["tags"].split()) for row in rows], dtype=np.float32)
    return images, targets, [row["image_name"] for row in rows]


def evaluate_real(
    model: torch.nn.Module, data: Path, split: str = "eval", size: int = 96
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[str]]:
    """Probabilities and targets per source (and ``all``) for one split of the real set, and the tile names."""
    tiles = load_dataset(data / f"{split}.csv", size=size, workers=1)
    probabilities = probabilities_of(model, tiles.images)
    targets = tiles.targets.numpy()[:, 0]
    groups = tile_groups(data)
    probs: dict[str, np.ndarray] = {"all": probabilities}
    targs: dict[str, np.ndarray] = {"all": targets}
    sources = np.asarray([groups[name][0] for name in tiles.names])
    scenes = np.asarray([groups[name][1] for name in tiles.names])
    for source in sorted(set(sources)):
        probs[source], targs[source] = probabilities[sources == source], targets[sources == source]
    for scene in sorted(set(scenes)):  # per scene too, where a source has several
        if len({s for s in set(scenes) if s.startswith(scene.split("/")[0] + "/")}) > 1:
            probs[scene], targs[scene] = probabilities[scenes == scene], targets[scenes == scene]
    return probs, targs, list(tiles.names)


def report(
    model_dir: Path, data: Path, planet: Path | None, thresholds: list[float], split: str = "eval"
) -> dict[str, Any]:
    model, manifest = load_artifact(model_dir)
    stored = float(manifest["thresholds"]["road"])
    size = int(manifest["input"]["height"])
    probs, targs, _ = evaluate_real(model, data, split, size)
    result: dict[str, Any] = {"model": f"{manifest['name']}/{manifest['version']}", "stored_threshold": stored}
    for threshold in [stored, *thresholds]:
        key = "stored" if threshold == stored else f"at_{threshold:g}"
        result[key] = {source: asdict(real_scores(probs[source], targs[source], threshold)) for source in probs}
        if planet is not None:
            images, targets, names = load_planet_chips(planet, size)
            chip_probs = probabilities_of(model, images)
            result[key]["planet"] = asdict(real_scores(chip_probs, targets, threshold))
            result["planet_probabilities"] = dict(zip(names, chip_probs.round(4).tolist(), strict=True))
    return result


def format_table(result: dict[str, Any], key: str = "stored") -> str:
    lines = [
        f"{result['model']} at threshold {result[key]['all']['threshold']:.4f}",
        "| source | tiles | road | road-free | roads found | road-free left alone | ROC-AUC |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for source, s in result[key].items():
        recall = f"{s['roads_found']}/{s['road']} ({100 * s['recall']:.0f} %)" if s["road"] else "-"
        free = f"{s['free_left_alone']}/{s['no_road']} ({100 * s['specificity']:.0f} %)" if s["no_road"] else "-"
        auc = f"{s['roc_auc']:.3f}" if s["roc_auc"] == s["roc_auc"] else "-"
        lines.append(f"| {source} | {s['tiles']} | {s['road']} | {s['no_road']} | {recall} | {free} | {auc} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="artifact folder, e.g. model_store/roadnet/1")
    parser.add_argument("--data", type=Path, default=Path("data/real"), help="folder written by training.real.build")
    parser.add_argument("--split", default="eval", choices=("eval", "tune"), help="which labelled split")
    parser.add_argument("--planet", type=Path, default=None, help="a folder of Planet chips (tags.csv + JPEGs)")
    parser.add_argument("--threshold", type=float, action="append", default=[], help="also score at this threshold")
    parser.add_argument("--json", type=Path, default=None, help="write the full result here")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    result = report(args.model, args.data, args.planet, args.threshold, args.split)
    for key in [k for k in result if k == "stored" or k.startswith("at_")]:
        print(format_table(result, key) + "\n")
    if "planet_probabilities" in result:
        print("Planet chips:", result["planet_probabilities"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
