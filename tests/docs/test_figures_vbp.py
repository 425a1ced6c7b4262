"""``python -m training.explanations.vbp_figures``: every figure of docs/visualbackprop.md from a model in a store,
and the facts the document states about the upsampling's overlap pattern."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from service.engine.artifact import load_artifact
from service.engine.types import VBPOptions
from service.explain.common import ones_deconv, overlap_count
from service.explain.visualbackprop import visualbackprop
from tests.conftest import sharpened
from training.data.generate import write_dataset
from training.data.split import split_indices
from training.explanations.vbp_figures import gallery_tiles, main
from training.explanations.vbp_plots import artifact_pattern
from training.export import export_model

COUNT, VALIDATION = 40, 12
FIGURES = [
    "averaged-maps.png",
    "intermediate-masks.png",
    "overlap-pattern.png",
    "faithful-vs-normalised.png",
    "gallery.png",
]


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A store whose model's manifest records a small synthetic dataset and its validation split."""
    root = tmp_path_factory.mktemp("figures")
    data = write_dataset(root / "data", COUNT, seed=3)
    dataset = {"kind": "synthetic", "count": COUNT, "seed": 3, "road_fraction": 0.5, "path": str(data)}
    dataset |= {"validation": VALIDATION, "split_seed": 3}
    export_model(sharpened(seed=0), root / "store", "roadnet", metadata={"dataset": dataset})
    return root / "store", data


def test_one_command_draws_every_figure_from_the_validation_split(
    trained_store: tuple[Path, Path], tmp_path: Path
) -> None:
    store, data = trained_store
    main(["--store", str(store), "--out", str(tmp_path), "--tiles", "6"])
    for name in FIGURES:
        with Image.open(tmp_path / name) as figure:
            assert figure.width > 400 and figure.height > 150, name
    facts = json.loads((tmp_path / "figures.json").read_text())
    assert facts["figures"] == FIGURES and facts["model"] == {"name": "roadnet", "version": 1, "metrics": {}}
    rows = (data / "train_v2.csv").read_text().splitlines()[1:]
    roads = np.array(["road" in row.split(",")[1].split() for row in rows], dtype=np.float32)
    _, validation = split_indices(roads, VALIDATION, seed=3)
    shown = [int(entry["source"].split("train_")[1]) for entry in facts["gallery"]]
    assert set(shown) <= set(validation.tolist()) and len(shown) == 6
    assert [entry["road"] for entry in facts["gallery"]] == [bool(roads[i]) for i in shown]
    assert sum(entry["road"] for entry in facts["gallery"]) == 3  # balanced
    assert facts["example"]["source"] in {entry["source"] for entry in facts["gallery"] if entry["road"]}


def test_without_the_folder_the_same_tiles_are_regenerated(trained_store: tuple[Path, Path]) -> None:
    store, data = trained_store
    manifest = json.loads((store / "roadnet" / "1" / "manifest.json").read_text())
    from_folder, said = gallery_tiles(manifest, 4)
    manifest["dataset"]["path"] = str(data / "moved-away")
    again, said_again = gallery_tiles(manifest, 4)
    assert "read from" in said and "regenerated" in said_again
    assert [t.source.split()[1] for t in from_folder] == [t.source.split()[1] for t in again]
    for read, made in zip(from_folder, again, strict=True):  # the same pictures, up to JPEG
        assert np.abs(read.image.astype(int) - made.image.astype(int)).mean() < 6


def test_the_documented_overlap_facts(trained_store: tuple[Path, Path]) -> None:
    model = load_artifact(trained_store[0] / "roadnet" / "1", torch.device("cpu"))
    block = model.blocks[3]
    counts = overlap_count(block, (12, 12), (24, 24))[0].numpy()
    assert set(np.unique(counts[:-1, :-1]).tolist()) == {1.0, 2.0, 4.0}  # the interior
    chained = artifact_pattern(model)
    assert chained.min() == 1.0 and chained.max() == 25.0
    assert chained[16, 8:16].tolist() == [1.0, 4.0, 3.0, 5.0, 2.0, 5.0, 3.0, 4.0]
    assert np.array_equal(chained[16, 8:40], np.tile(chained[16, 8:16], 4))  # period 8 px
    ones = [torch.ones(1, b.out_channels, *b.output_size) for b in model.blocks]
    normalised, _ = visualbackprop(ones, model.blocks, model.input_size, VBPOptions(normalize_overlap=True))
    assert float(normalised.abs().max()) == 0.0  # constant before min-max: no pattern left


def test_overlap_normalised_upsampling_is_bilinear_interpolation(trained_store: tuple[Path, Path]) -> None:
    block = load_artifact(trained_store[0] / "roadnet" / "1", torch.device("cpu")).blocks[3]  # 3 x 3, stride 2
    deep = torch.rand(1, 12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    counts = overlap_count(block, (12, 12), (24, 24), dtype=torch.float64)
    normalised = ones_deconv(deep, block, (24, 24)) / counts

    def linear(values: torch.Tensor) -> torch.Tensor:  # samples at even positions, means in between, last repeated
        out = torch.empty(*values.shape[:-1], 24, dtype=values.dtype)
        out[..., 0::2] = values
        out[..., 1:-1:2] = (values[..., :-1] + values[..., 1:]) / 2
        out[..., -1] = values[..., -1]
        return out

    expected = linear(linear(deep).transpose(-1, -2)).transpose(-1, -2)
    assert torch.allclose(normalised, expected, atol=1e-12)
