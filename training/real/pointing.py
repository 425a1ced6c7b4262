"""VisualBackProp's pointing game on the real tiles that have a road mask: ``python -m training.real.pointing``.

Only solaris's SpaceNet chip has one. The game is played on the whole chip (0.39 km) and on its four quadrants
(0.2 km each, so five samples): a hit when the mask's maximum lies on a road pixel of the mask grown by 2 px, the
same rule as the synthetic evaluation. The masks come from the service's own VisualBackProp on the artifact.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from service.engine.artifact import load_artifact
from service.engine.types import VBPOptions
from service.explain.visualbackprop import visualbackprop

DILATION = 2


def pointing_hits(maps: torch.Tensor, masks: torch.Tensor, radius: int = DILATION) -> torch.Tensor:
    """1.0 where a map's maximum lies on the mask grown by ``radius`` px (an all-zero map misses), per image."""
    grown = F.max_pool2d(masks[:, None].float(), 2 * radius + 1, stride=1, padding=radius)[:, 0] > 0
    flat = maps.flatten(1)
    peak = flat.argmax(dim=1)
    return (grown.flatten(1)[torch.arange(len(peak)), peak] & (flat.amax(dim=1) > 0)).float()


def crops(image: np.ndarray, mask: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The whole tile and its four quadrants."""
    h, w = mask.shape
    out = [("whole", image, mask)]
    for name, (y, x) in {
        "top-left": (0, 0),
        "top-right": (0, 1),
        "bottom-left": (1, 0),
        "bottom-right": (1, 1),
    }.items():
        ys, xs = slice(y * h // 2, (y + 1) * h // 2), slice(x * w // 2, (x + 1) * w // 2)
        out.append((name, image[ys, xs], mask[ys, xs]))
    return out


def play(model_dir: Path, data: Path) -> dict[str, Any]:
    model = load_artifact(model_dir, torch.device("cpu"))
    size = model.input_size
    index = [entry for entry in json.loads((data / "tiles.json").read_text()) if entry["mask"]]
    names, images, masks = [], [], []
    for entry in index:
        image = np.asarray(Image.open(data / "tiles" / f"{entry['name']}.png").convert("RGB"))
        mask = np.asarray(Image.open(data / "masks" / f"{entry['name']}.png")) > 127
        for part, crop, crop_mask in crops(image, mask):
            names.append(f"{entry['name']}:{part}")
            images.append(np.asarray(Image.fromarray(crop).resize(size[::-1], Image.Resampling.BILINEAR)))
            masks.append(np.asarray(Image.fromarray(crop_mask).resize(size[::-1], Image.Resampling.NEAREST)))
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        logits, features = model.module.forward_with_features(batch)
        vbp, _ = visualbackprop(features, model.blocks, size, VBPOptions())
    hits = pointing_hits(vbp, torch.from_numpy(np.stack(masks)))
    probabilities = torch.sigmoid(logits)[:, 0]
    return {
        "model": f"{model.key.name}/{model.key.version}",
        "hits": int(hits.sum()),
        "tiles": len(names),
        "per_tile": {
            n: {"hit": bool(h), "road_probability": round(float(p), 4)}
            for n, h, p in zip(names, hits.tolist(), probabilities.tolist(), strict=True)
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="artifact folder, e.g. model_store/roadnet/2")
    parser.add_argument("--data", type=Path, default=Path("data/real"), help="folder written by training.real.build")
    args = parser.parse_args(argv)
    result = play(args.model, args.data)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
