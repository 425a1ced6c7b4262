"""The CI-sized explanation evaluation on the shipped model: every method clears its bar
(training/explanations/ci.py).

The bars were set on roadnet/1 and check the methods, so they are held against roadnet/1. The newest model,
roadnet/5 (roadnet/4 and its fine-tune on generator 5, averaged), misses four of them on these synthetic tiles:
VisualBackProp's road-mass margin over the untrained network 0.27 < 0.8, Grad-CAM's pointing game 0.42 < 0.5,
occlusion's road mass 2.55 < 3.0 and its margin 1.00 < 1.5 (roadnet/2 missed three, roadnet/3 four, roadnet/4 five;
see docs/model_card.md); that is recorded as a strict xfail, so the day it clears them the test says so."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training.explanations.ci import BARS, CI_VARIANTS, all_failures, ci_options
from training.explanations.evaluate import evaluate, latest_version
from training.explanations.metrics import average_ranks, dilate, pointing_game, road_mass, spearman
from training.explanations.results import Evaluation

STORE = Path(__file__).resolve().parents[2] / "model_store"


BARS_SET_ON = 1  # the version whose measured values the bars were set from


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    if not (STORE / "roadnet" / str(BARS_SET_ON) / "manifest.json").is_file():
        pytest.fail(f"no roadnet/{BARS_SET_ON} in model_store: the bars are set for it")
    return evaluate(ci_options(STORE / "roadnet" / str(BARS_SET_ON)))


def test_every_method_clears_its_bar(evaluation: Evaluation) -> None:
    assert [s.label for s in evaluation.scores] == [v.label for v in CI_VARIANTS] and set(BARS) == {
        v.label for v in CI_VARIANTS
    }
    assert all_failures(evaluation) == []


@pytest.mark.xfail(
    strict=True,
    reason="roadnet/5 misses four bars set on roadnet/1: VisualBackProp road-mass margin over the untrained "
    "network 0.27 < 0.8; Grad-CAM pointing game 0.42 < 0.5; occlusion road mass 2.55 < 3.0 and margin 1.00 < 1.5",
)
def test_the_newest_model_clears_the_bars_too() -> None:
    newest = latest_version(STORE, "roadnet")
    if newest.name == str(BARS_SET_ON):
        pytest.skip("the newest model is the one the bars were set on")
    assert all_failures(evaluate(ci_options(newest))) == []


def test_the_trained_model_and_the_maps_are_what_the_metrics_say(evaluation: Evaluation) -> None:
    assert len(evaluation.tiles.names) == 12 and evaluation.tiles.masks.flatten(1).any(dim=1).all()
    random = evaluation.random
    assert 0.8 < random.mass < 1.2  # a random map puts the road's share of its mass on the road
    for scores in evaluation.scores:
        assert len(scores.sanity) == len(evaluation.groups) == 6
        assert scores.ms_per_image > 0


def test_metrics_by_hand() -> None:
    masks = torch.zeros(1, 5, 5, dtype=torch.bool)
    masks[0, 2, 2] = True
    assert int(dilate(masks, 1).sum()) == 9
    maps = torch.zeros(1, 5, 5)
    maps[0, 2, 2], maps[0, 0, 0] = 3.0, 1.0
    assert float(pointing_game(maps, masks)[0]) == 1.0 and float(pointing_game(torch.zeros(1, 5, 5), masks)[0]) == 0
    assert float(road_mass(maps, masks)[0]) == pytest.approx(0.75 / (1 / 25))
    assert average_ranks(torch.tensor([3.0, 1.0, 3.0, 2.0]).numpy()).tolist() == [2.5, 0.0, 2.5, 1.0]
    a = torch.arange(25.0).numpy()
    assert spearman(a, a**3) == pytest.approx(1.0) and spearman(a, -a) == pytest.approx(-1.0)
