"""Feature maps of every layer from one forward pass, recorded with ``register_forward_hook`` (brief, step 3).

Hooks work on the eager ``RoadNet`` only: a ``torch.jit.load``ed artifact rejects them, which is why the
artifact exports ``forward_with_features`` instead. Tests check that both give the same maps.

``python -m training.hooks --checkpoint runs/default/best.pt --image tile.jpg --out maps/`` writes one PNG grid
of min-max-scaled channels per layer.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageOps
from torch import nn

from training.model import ConvStage, ModelConfig, RoadNet


@contextmanager
def recording(modules: dict[str, nn.Module]) -> Iterator[dict[str, torch.Tensor]]:
    """Record each module's output under its name while the block is open; hooks are removed on exit."""
    maps: dict[str, torch.Tensor] = {}

    def hook_for(name: str):  # type: ignore[no-untyped-def]
        def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            maps[name] = output.detach().clone()

        return hook

    handles = [module.register_forward_hook(hook_for(name)) for name, module in modules.items()]
    try:
        yield maps
    finally:
        for handle in handles:
            handle.remove()


def layer_modules(model: RoadNet) -> dict[str, nn.Module]:
    """Every layer whose output is a feature map: each block's conv, batchnorm and ReLU, in forward order."""
    modules: dict[str, nn.Module] = {}
    for i, spec in enumerate(model.config.blocks):
        stage = model.stages[i]
        assert isinstance(stage, ConvStage)
        modules[f"{spec.name}.conv"] = stage.conv
        modules[f"{spec.name}.bn"] = stage.bn
        modules[spec.name] = model.relus[i]
    return modules


def record_feature_maps(
    model: RoadNet, image: torch.Tensor, modules: dict[str, nn.Module] | None = None
) -> dict[str, torch.Tensor]:
    """Outputs of ``modules`` (default: every conv-block layer) for one forward pass of ``image`` (N x 3 x H x W)."""
    model.eval()
    with recording(modules or layer_modules(model)) as maps, torch.no_grad():
        model(image)
    return dict(maps)


def channel_grid(maps: torch.Tensor, title: str, cell: int = 2) -> Image.Image:
    """One picture of a C x H x W map: channels min-max scaled independently, tiled in a near-square grid."""
    channels, height, width = maps.shape
    columns = math.ceil(math.sqrt(channels))
    rows = math.ceil(channels / columns)
    low = maps.amin(dim=(1, 2), keepdim=True)
    span = (maps.amax(dim=(1, 2), keepdim=True) - low).clamp_min(1e-12)
    scaled = ((maps - low) / span * 255).to(torch.uint8).numpy()
    pad, header = 2, 14
    canvas = Image.new("L", (columns * (width + pad) + pad, rows * (height + pad) + pad + header), 255)
    for index, channel in enumerate(scaled):
        row, column = divmod(index, columns)
        canvas.paste(Image.fromarray(channel), (pad + column * (width + pad), header + pad + row * (height + pad)))
    ImageDraw.Draw(canvas).text((pad, 1), f"{title}  {channels}x{height}x{width}", fill=0)
    if cell > 1:
        canvas = canvas.resize((canvas.width * cell, canvas.height * cell), Image.Resampling.NEAREST)
    return canvas


def load_image(path: Path, size: int) -> torch.Tensor:
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)


def save_feature_maps(model: RoadNet, image_path: Path, out: Path) -> list[Path]:
    """Write ``input.png`` and one grid PNG per recorded layer into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    image = load_image(image_path, model.config.input_size)
    written = [out / "input.png"]
    Image.fromarray((image[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(written[0])
    for order, (name, maps) in enumerate(record_feature_maps(model, image).items()):
        path = out / f"{order:02d}_{name.replace('.', '_')}.png"
        channel_grid(maps[0], name).save(path)
        written.append(path)
    return written


def load_checkpoint(path: Path) -> RoadNet:
    state = torch.load(path, map_location="cpu", weights_only=False)
    model = RoadNet(ModelConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model_state"])
    return model.eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Save every layer's feature maps for one image as PNG grids.")
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoint written by training.train")
    parser.add_argument("--image", type=Path, required=True, help="any image file; resized to the model input")
    parser.add_argument("--out", type=Path, default=Path("feature_maps"), help="output folder")
    args = parser.parse_args(argv)
    for path in save_feature_maps(load_checkpoint(args.checkpoint), args.image, args.out):
        print(path)


if __name__ == "__main__":
    main()
