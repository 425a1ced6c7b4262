"""Brief step 3: every layer's output recorded with forward hooks, and written as channel grids."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from training.hooks import channel_grid, layer_modules, record_feature_maps
from training.model import ModelConfig, build_model


def test_hooks_record_every_layer_with_the_brief_shapes() -> None:
    model = build_model(ModelConfig(), seed=0).eval()
    maps = record_feature_maps(model, torch.rand(1, 3, 96, 96))
    assert list(maps) == list(layer_modules(model))
    assert maps["block0"].shape == (1, 8, 96, 96) and maps["block3"].shape == (1, 64, 12, 12)
    assert (maps["block2"] >= 0).all() and (maps["block2.bn"] < 0).any()  # post-ReLU vs pre-ReLU
    assert all(not module._forward_hooks for module in layer_modules(model).values())  # hooks released


def test_channel_grid_scales_each_channel_independently() -> None:
    maps = torch.stack([torch.zeros(4, 4), torch.full((4, 4), 1000.0), torch.arange(16.0).view(4, 4)])
    grid = np.asarray(channel_grid(maps, "t", cell=1))
    # the third channel spans 0..255 even though the second is 1000 everywhere
    third = grid[14 + 2 + 6 : 14 + 2 + 6 + 4, 2 : 2 + 4]
    assert third.min() == 0 and third.max() == 255


def test_feature_map_command_writes_one_grid_per_layer(tmp_path: Path) -> None:
    model = build_model(ModelConfig(), seed=0)
    checkpoint = tmp_path / "model.pt"
    torch.save({"model_config": model.config.to_dict(), "model_state": model.state_dict()}, checkpoint)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 80, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    out = tmp_path / "maps"
    command = [
        sys.executable,
        "-m",
        "training.hooks",
        "--checkpoint",
        str(checkpoint),
        "--image",
        str(tmp_path / "a.jpg"),
    ]
    subprocess.run([*command, "--out", str(out)], check=True, capture_output=True)
    files = sorted(p.name for p in out.glob("*.png"))
    assert len(files) == 1 + 3 * 4 and "input.png" in files and "11_block3.png" in files
    with Image.open(out / "input.png") as picture:
        assert picture.size == (96, 96)
