"""python -m training.soup: weighted weight averages, BatchNorm statistics re-estimated, then finished like a run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from training.export import script_model
from training.model import ModelConfig, RoadNet, build_model
from training.prepare import read_weights
from training.soup import average_states, main, model_config_of, reestimate_batchnorm
from training.train import save_checkpoint


def test_average_states_is_the_weighted_mean_and_keeps_the_first_batch_count() -> None:
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(7)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(9)}
    averaged = average_states([a, b], [3.0, 1.0])  # weights need not sum to one
    assert torch.allclose(averaged["w"], torch.tensor([1.5, 3.0]))
    assert averaged["n"].item() == 7 and averaged["n"].dtype == a["n"].dtype


@pytest.mark.parametrize(
    ("states", "weights", "message"),
    [
        ([{"w": torch.zeros(1)}, {"v": torch.zeros(1)}], [1.0, 1.0], "not the same network"),
        ([{"w": torch.zeros(1)}], [1.0, 1.0], "one weight per state"),
    ],
)
def test_average_states_refuses_what_cannot_be_averaged(
    states: list[dict[str, torch.Tensor]], weights: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        average_states(states, weights)


def test_batchnorm_statistics_become_the_mean_over_the_given_images() -> None:
    model = RoadNet(ModelConfig())
    images = torch.randint(0, 256, (48, 3, 96, 96), dtype=torch.uint8)
    seen: list[torch.Tensor] = []
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    first_conv.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    reestimate_batchnorm(model, images, batch_size=16)
    expected = torch.cat(seen).mean(dim=(0, 2, 3))
    first_norm = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert first_norm.running_mean is not None
    assert torch.allclose(first_norm.running_mean, expected, atol=1e-5)
    assert not model.training and first_norm.momentum == 0.1


def _checkpoint(folder: Path, seed: int) -> Path:
    model = build_model(ModelConfig(), seed=seed)
    path = folder / f"run{seed}.pt"
    save_checkpoint(path, {"model_config": ModelConfig().to_dict(), "model_state": model.state_dict()})
    return path


def test_the_command_averages_two_runs_and_finishes_like_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the tiny preset's data folder is relative: generated here
    a, b = _checkpoint(tmp_path, 0), _checkpoint(tmp_path, 1)
    summary = main(["--preset", "tiny", "--checkpoint", str(a), "--checkpoint", str(b), "--out", "soup"])
    assert set(summary["thresholds"]) == {"road"} and 0.0 < summary["thresholds"]["road"] < 1.0
    assert summary["dataset"]["averaged_from"]["weights"] == [0.5, 0.5]
    assert "exported" not in summary  # no --store, no export
    assert not (tmp_path / "soup" / "curves.png").exists()  # no epochs, no training curves to draw
    saved = torch.load(tmp_path / "soup" / "best.pt", weights_only=False)
    assert saved["metadata"]["thresholds"] == summary["thresholds"]
    first = torch.load(a, weights_only=False)["model_state"]
    second = torch.load(b, weights_only=False)["model_state"]
    for key, value in saved["model_state"].items():
        if value.is_floating_point() and "running" not in key:
            assert torch.allclose(value, (first[key] + second[key]) / 2, atol=1e-6), key


def test_the_command_wants_two_checkpoints_and_one_weight_each(tmp_path: Path) -> None:
    a = _checkpoint(tmp_path, 0)
    with pytest.raises(SystemExit, match="two or more"):
        main(["--preset", "tiny", "--checkpoint", str(a), "--out", str(tmp_path / "soup")])
    with pytest.raises(SystemExit, match="one non-negative --weight each"):
        main(["--preset", "tiny", "--checkpoint", str(a), "--checkpoint", str(a), "--weight", "1", "--out", "x"])


def _artifact(folder: Path, seed: int) -> Path:
    model = build_model(ModelConfig(), seed=seed)
    path = folder / f"model{seed}.pt"
    script_model(model).save(str(path))
    return path


def test_an_exported_artifact_is_an_ingredient_like_its_checkpoint(tmp_path: Path) -> None:
    checkpoint, artifact = _checkpoint(tmp_path, 3), _artifact(tmp_path, 3)
    from_checkpoint, from_artifact = read_weights(checkpoint), read_weights(artifact)
    assert set(from_artifact) == set(from_checkpoint)
    assert all(torch.equal(from_artifact[key], value) for key, value in from_checkpoint.items())
    # the artifact holds no network config: it comes from the first training checkpoint, wherever it is listed
    assert model_config_of([artifact, checkpoint]) == ModelConfig()
    with pytest.raises(SystemExit, match="at least one checkpoint written by training"):
        model_config_of([artifact, _artifact(tmp_path, 4)])
