"""The four-stage recipe of roadnet/3 (python -m training.rural) hangs together."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from training import rural
from training.config import PRESETS


def test_each_stage_starts_from_the_best_epoch_of_the_one_before_and_only_the_last_exports() -> None:
    stages = [PRESETS[name] for name in rural.STAGES]
    assert stages[0].init_from == Path("model_store/roadnet/2/model.pt")
    for before, after in itertools.pairwise(stages):
        assert after.init_from == before.out / "best.pt"
        assert before.store is None
    assert stages[-1].store == Path("model_store") and stages[-1].tune_data == Path("data/real/tune.csv")
    assert {stage.data for stage in stages} == {Path("data/synthetic-v2")}


def test_the_stages_run_in_order_with_the_extra_options(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(rural, "train", calls.append)
    rural.main(["--threads", "4"])
    assert calls == [["--preset", name, "--threads", "4"] for name in ("rural-1", "rural-2", "rural-3", "rural")]
