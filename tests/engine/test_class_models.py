"""Class-model images in the engine: validated, made once per model version and request, in slices that let other
batches through, and not lost when a waiting client gives up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from service.engine.class_models import ResultCache
from service.engine.engine import Engine, EngineConfig
from service.engine.types import ClassModelRequest, InferenceRequest, ModelKey
from service.errors import InvalidParameter, NotReady
from service.explain import class_model
from service.observability.metrics import Metrics

pytestmark = pytest.mark.asyncio
KEY = ModelKey("tiny", 1)


@pytest_asyncio.fixture
async def engine(store: Path) -> AsyncIterator[Engine]:
    engine = Engine(EngineConfig(store, device="cpu", max_batch_size=4, warmup=False, torch_threads=1), Metrics())
    await engine.start()
    yield engine
    await engine.stop()


def counting_steps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every slice the worker runs, recorded as its size."""
    slices: list[int] = []
    advance = class_model.ClassModelRun.advance

    def counted(run: class_model.ClassModelRun, steps: int) -> None:
        slices.append(min(steps, run.request.steps - run.done))
        advance(run, steps)

    monkeypatch.setattr(class_model.ClassModelRun, "advance", counted)
    return slices


async def test_a_request_is_made_once_for_every_client(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    slices = counting_steps(monkeypatch)
    request = ClassModelRequest((1.0,), steps=20, seed=1)
    results = await asyncio.gather(*(engine.class_model(KEY, request) for _ in range(3)))
    assert sum(slices) == 20 and max(slices) == 8  # one ascent, in slices of SLICE_STEPS
    assert results[0] is results[1] is results[2]
    assert await engine.class_model(KEY, request) is results[0] and sum(slices) == 20
    other_version = await engine.class_model(ModelKey("tiny", 2), request)
    assert sum(slices) == 40 and not np.array_equal(other_version.image, results[0].image)


async def test_predictions_run_between_the_slices(engine: Engine) -> None:
    ascent = asyncio.ensure_future(engine.class_model(KEY, ClassModelRequest((1.0,), steps=400, seed=2)))
    await asyncio.sleep(0.05)
    image = np.zeros((3, 96, 96), dtype=np.float32)
    [result] = await engine.infer(KEY, [InferenceRequest(image)])
    assert result.probabilities.shape == (1,) and not ascent.done()
    assert (await ascent).steps == 400


async def test_a_client_that_gives_up_does_not_stop_the_ascent(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    slices = counting_steps(monkeypatch)
    request = ClassModelRequest((-1.0,), steps=120, seed=3)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(engine.class_model(KEY, request), timeout=0.05)
    result = await engine.class_model(KEY, request)
    assert result.steps == 120 and sum(slices) == 120


async def test_requests_the_model_cannot_serve_are_refused(engine: Engine) -> None:
    for bad in (
        ClassModelRequest((1.0, 0.0)),
        ClassModelRequest((0.0,), layer="block7", channel=0),
        ClassModelRequest((0.0,), layer="block0", channel=8),
        ClassModelRequest((0.0,), layer="block0"),
        ClassModelRequest((1.0,), steps=0),
    ):
        with pytest.raises(InvalidParameter):
            await engine.class_model(KEY, bad)


async def test_not_before_start_and_not_after_stop(store: Path) -> None:
    engine = Engine(EngineConfig(store, device="cpu", warmup=False, torch_threads=1), Metrics())
    with pytest.raises(NotReady):
        await engine.class_model(KEY, ClassModelRequest())
    await engine.start()
    running = asyncio.ensure_future(engine.class_model(KEY, ClassModelRequest(steps=400)))
    await asyncio.sleep(0.05)
    await engine.stop()  # cancels the ascent rather than finishing 400 steps
    with pytest.raises(asyncio.CancelledError):
        await running
    with pytest.raises(NotReady):
        await engine.class_model(KEY, ClassModelRequest())


async def test_the_cache_keeps_the_most_recently_used() -> None:
    cache: ResultCache[str, int] = ResultCache(capacity=2)
    made: list[str] = []

    async def make(key: str) -> int:
        made.append(key)
        return len(made)

    for key in ("a", "b", "a", "c", "a", "b"):
        await cache.get(key, lambda key=key: make(key))  # type: ignore[misc]
    assert made == ["a", "b", "c", "b"]  # b was evicted by c (a had been used since)

    async def fail() -> int:
        raise RuntimeError("broken")

    with pytest.raises(RuntimeError):
        await cache.get("d", fail)
    assert await cache.get("d", lambda: make("d")) == 5  # a failure is not cached
