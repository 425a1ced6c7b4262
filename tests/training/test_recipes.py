"""The multi-stage recipes (python -m training.recipes NAME) hang together: roadnet/3's, roadnet/4's, roadnet/5's."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from training import recipes, rural
from training.config import PRESETS


@pytest.mark.parametrize(
    ("name", "start", "data"),
    [
        ("rural", "model_store/roadnet/2/model.pt", "data/synthetic-v2"),
        ("avenues", "model_store/roadnet/2/model.pt", "data/synthetic-v3"),
    ],
)
def test_each_stage_starts_from_the_best_epoch_of_the_one_before_and_only_the_last_exports(
    name: str, start: str, data: str
) -> None:
    stages = [PRESETS[str(preset)] for preset in recipes.RECIPES[name]]  # these recipes only train
    assert stages[0].init_from == Path(start)
    for before, after in itertools.pairwise(stages):
        assert after.init_from == before.out / "best.pt"
        assert before.store is None
    assert stages[-1].store == Path("model_store") and stages[-1].tune_data == Path("data/real/tune.csv")
    assert {stage.data for stage in stages} == {Path(data)}
    assert {stage.generator_version for stage in stages} == {int(data[-1])}


def test_roadnet_4_is_roadnet_3s_first_three_stages_on_generator_3() -> None:
    pairs = zip(recipes.RECIPES["avenues"], recipes.RECIPES["rural"][:3], strict=True)
    for avenue, rural_stage in ((PRESETS[str(a)], PRESETS[str(r)]) for a, r in pairs):
        assert (avenue.epochs, avenue.lr, avenue.randomize, avenue.tune_data, avenue.tune_repeat) == (
            rural_stage.epochs,
            rural_stage.lr,
            rural_stage.randomize,
            rural_stage.tune_data,
            rural_stage.tune_repeat,
        )


def test_roadnet_5_fine_tunes_roadnet_4_on_generator_5_and_averages_the_two() -> None:
    *stage_names, last = recipes.RECIPES["lookalikes"]
    stages = [PRESETS[str(name)] for name in stage_names]
    assert stages[0].init_from == Path("model_store/roadnet/4/model.pt")
    assert stages[1].init_from == stages[0].out / "best.pt"
    assert all(stage.store is None and stage.data == Path("data/synthetic-v5") for stage in stages)
    assert {stage.generator_version for stage in stages} == {5}
    for stage, avenue in zip(stages, (PRESETS["avenues-2"], PRESETS["avenues"]), strict=True):  # the same training
        assert (stage.epochs, stage.lr, stage.tune_data, stage.tune_repeat) == (
            avenue.epochs,
            avenue.lr,
            avenue.tune_data,
            avenue.tune_repeat,
        )
    assert isinstance(last, recipes.Soup)
    assert last.checkpoints == (("model_store/roadnet/4/model.pt", 0.5), (str(stages[1].out / "best.pt"), 0.5))
    assert last.store == "model_store" and PRESETS[last.preset].data == Path("data/synthetic-v5")


def test_the_stages_run_in_order_with_the_extra_options(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(recipes, "train", calls.append)
    rural.main(["--threads", "4"])
    assert calls == [["--preset", name, "--threads", "4"] for name in ("rural-1", "rural-2", "rural-3", "rural")]
    calls.clear()
    recipes.main(["avenues", "--no-progress"])
    assert calls == [["--preset", name, "--no-progress"] for name in ("avenues-1", "avenues-2", "avenues")]
    calls.clear()
    soups: list[list[str]] = []
    monkeypatch.setattr(recipes, "soup", soups.append)
    recipes.main(["lookalikes", "--no-progress"])
    assert calls == [["--preset", name, "--no-progress"] for name in ("lookalikes-1", "lookalikes-2")]
    ingredients = ["--checkpoint", "model_store/roadnet/4/model.pt", "--weight", "0.5"]
    ingredients += ["--checkpoint", "runs/lookalikes-2/best.pt", "--weight", "0.5"]
    assert soups == [["--preset", "lookalikes-2", "--out", "runs/lookalikes", "--store", "model_store", *ingredients]]


def test_an_unknown_recipe_is_refused_with_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recipes, "train", lambda argv: pytest.fail("nothing may train"))
    with pytest.raises(SystemExit, match="rural,avenues,lookalikes"):
        recipes.main(["nope"])
