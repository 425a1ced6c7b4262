"""The artifact contract: parity with the eager model, hooks vs exported maps, manifest, refusal paths."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from training import export
from training.export import ExportError, export_model, sha256_of
from training.hooks import record_feature_maps
from training.model import ModelConfig, RoadNet, build_model


def trained_like(seed: int = 0) -> RoadNet:
    """A network whose batchnorm statistics are not the identity (as after training)."""
    model = build_model(ModelConfig(), seed=seed)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(16, 3, 96, 96))
    return model.eval()


def load(folder: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(folder / "model.pt"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[RoadNet, Path]:
    model = trained_like()
    folder = export_model(model, tmp_path_factory.mktemp("store"), "roadnet", metadata={"thresholds": {"road": 0.4}})
    return model, folder


def test_map_sizes_follow_the_brief() -> None:
    assert ModelConfig().map_sizes() == [96, 48, 24, 12]


def test_scripted_logits_and_maps_equal_eager(exported: tuple[RoadNet, Path]) -> None:
    model, folder = exported
    scripted = load(folder)
    x = torch.rand(5, 3, 96, 96, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits, maps = scripted.forward_with_features(x)
        assert torch.allclose(logits, model(x), atol=1e-5)
    hooked = record_feature_maps(model, x)
    for name, scripted_map in zip(scripted.block_names(), maps, strict=True):
        assert scripted_map.shape == hooked[name].shape
        assert torch.allclose(scripted_map, hooked[name], atol=1e-5)


def test_stage_methods_rebuild_the_forward_pass(exported: tuple[RoadNet, Path]) -> None:
    _, folder = exported
    scripted = load(folder)
    x = torch.rand(2, 3, 96, 96)
    a = scripted.normalize_input(x)
    for k in range(scripted.num_stages()):
        a = torch.relu(scripted.preactivation(k, a))
    with torch.no_grad():
        assert torch.allclose(scripted.head(a), scripted(x), atol=1e-6)


def test_gradients_flow_through_the_artifact(exported: tuple[RoadNet, Path]) -> None:
    model, folder = exported
    scripted = load(folder)
    x = torch.rand(2, 3, 96, 96, requires_grad=True)
    logits, maps = scripted.forward_with_features(x)
    grad_input, grad_block = torch.autograd.grad(logits.sum(), [x, maps[2]])
    eager_x = x.detach().clone().requires_grad_(True)
    (eager_grad,) = torch.autograd.grad(model(eager_x).sum(), [eager_x])
    assert torch.allclose(grad_input, eager_grad, atol=1e-5)
    assert grad_block.shape == (2, 32, 24, 24) and grad_block.abs().sum() > 0


def test_manifest_describes_the_artifact(exported: tuple[RoadNet, Path]) -> None:
    _, folder = exported
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["sha256"] == sha256_of(folder / "model.pt")
    assert manifest["labels"] == ["road"] and manifest["thresholds"] == {"road": 0.4}
    assert [b["name"] for b in manifest["blocks"]] == ["block0", "block1", "block2", "block3"]
    assert manifest["blocks"][1] == {
        "name": "block1",
        "kernel": [3, 3],
        "stride": [2, 2],
        "padding": [1, 1],
        "in_channels": 8,
        "out_channels": 32,
        "output_size": [48, 48],
    }
    assert manifest["input"]["colour_order"] == "RGB" and manifest["input"]["height"] == 96
    assert max(manifest["parity_max_abs_diff"].values()) <= export.PARITY_TOLERANCE


def test_versions_increase_and_are_immutable(tmp_path: Path) -> None:
    model = trained_like(1)
    assert export_model(model, tmp_path, "m").name == "1"
    assert export_model(model, tmp_path, "m").name == "2"
    with pytest.raises(ExportError, match="already exists"):
        export_model(model, tmp_path, "m", version=2)


@pytest.mark.parametrize("name", ["../evil", "a/b", "Upper", "", "x" * 65, ".hidden"])
def test_unsafe_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ExportError, match="must match"):
        export_model(trained_like(), tmp_path, name)
    assert not any(tmp_path.iterdir())


def test_parity_failure_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "parity_report", lambda *_: {"logits": 0.0, "block2": 1e-3})
    with pytest.raises(ExportError, match="differ"):
        export_model(trained_like(), tmp_path, "roadnet")
    assert not (tmp_path / "roadnet").exists() or not any((tmp_path / "roadnet").iterdir())


def test_multi_label_models_export(tmp_path: Path) -> None:
    model = build_model(ModelConfig(labels=("road", "water", "habitation")), seed=0).eval()
    folder = export_model(model, tmp_path, "multi")
    assert load(folder)(torch.rand(2, 3, 96, 96)).shape == (2, 3)
    assert json.loads((folder / "manifest.json").read_text())["thresholds"] == dict.fromkeys(
        ("road", "water", "habitation"), 0.5
    )
