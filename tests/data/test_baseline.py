"""The colour-histogram baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from training.baseline import colour_histograms, evaluate_baseline, main
from training.data.generate import write_dataset


def test_histograms_count_each_channel_separately() -> None:
    images = torch.zeros((2, 3, 4, 4), dtype=torch.uint8)
    images[0, 0] = 255  # all red
    images[1, 2, :2] = 128  # half the pixels half blue
    h = colour_histograms(images, bins=4)
    assert h.shape == (2, 12)
    np.testing.assert_allclose(h.sum(axis=1), 3.0)
    assert h[0, 3] == 1.0 and h[0, 4] == 1.0 and h[0, 8] == 1.0
    assert h[1, 8] == 0.5 and h[1, 10] == 0.5


def test_baseline_learns_a_colour_rule() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.5
    images = torch.from_numpy(rng.integers(0, 100, (200, 3, 8, 8), dtype=np.uint8))
    images[torch.from_numpy(y), 0] += 120  # positives are redder: colour alone suffices here
    scores = evaluate_baseline(images, torch.from_numpy(y.astype(np.float32))[:, None])
    assert scores["accuracy"] == 1.0 and scores["validation"] == 40


def test_command_line_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_dataset(tmp_path, 60, seed=1)
    scores = main(["--data", str(tmp_path), "--json"])
    assert json.loads(capsys.readouterr().out) == scores
    assert 0.0 <= scores["accuracy"] <= 1.0 and scores["train"] == 48
