"""Explanations through the engine: batched across clients like /predict, equal to the methods called alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
import torch
from prometheus_client.parser import text_string_to_metric_families

from service.engine.batcher import SummedDepth
from service.engine.engine import Engine, EngineConfig
from service.engine.types import ExplainRequest, InferenceRequest, ModelKey
from service.errors import InvalidParameter
from service.explain.base import Network
from service.explain.functions import FUNCTIONS
from service.explain.registry import METHODS, Limits, params_key, resolve_params
from service.observability.metrics import Metrics

pytestmark = pytest.mark.asyncio
KEY = ModelKey("roadnet", 2)


def request(image: np.ndarray, method: str, target: float = 1.0, **given: object) -> ExplainRequest:
    params = resolve_params(METHODS[method], given, Limits())  # type: ignore[arg-type]
    return ExplainRequest(image, method, params_key(params), (target,))


def pictures(n: int) -> np.ndarray:
    return np.random.default_rng(5).random((n, 3, 96, 96), dtype=np.float32)


def alone(network: Network, r: ExplainRequest) -> np.ndarray:
    """The method called directly on this one image."""
    maps = FUNCTIONS[r.method](network, torch.from_numpy(r.image)[None], torch.tensor([r.target]), dict(r.params))
    return maps[0].detach().numpy()


@pytest_asyncio.fixture
async def engine(model_store: Path) -> AsyncIterator[Engine]:
    # A long flush wait, so that requests sent together are sure to share a batch; small device batches.
    config = EngineConfig(
        model_store, device="cpu", max_batch_size=8, max_wait_ms=200, warmup=False, explain_max_batch=8
    )
    engine = Engine(config, Metrics())
    await engine.start()
    yield engine
    await engine.stop()


async def test_clients_share_one_batch_and_get_their_own_maps(engine: Engine, network: Network) -> None:
    requests = [request(image, "saliency", target=(-1.0) ** i) for i, image in enumerate(pictures(6))]
    results = await asyncio.gather(*(engine.explain(KEY, [r]) for r in requests))  # six clients at once
    for r, [result] in zip(requests, results, strict=True):
        assert result.timings["batch_size"] == 6
        np.testing.assert_allclose(result.raw, alone(network, r), rtol=1e-5, atol=1e-6)
        assert result.display.min() == 0.0 and result.display.max() == 1.0
        assert result.probabilities.shape == (1,) and 0 < float(result.probabilities[0]) < 1


async def test_different_methods_and_params_share_a_device_batch(engine: Engine, network: Network) -> None:
    images = pictures(5)
    requests = [
        request(images[0], "gradcam", layer="block2"),
        request(images[1], "occlusion", target=-1.0, window=48, stride=24),
        request(images[2], "integrated_gradients", steps=5),
        request(images[3], "visualbackprop", normalize_overlap=True),
        request(images[4], "smoothgrad", samples=3, seed=1),
    ]
    results = await asyncio.gather(*(engine.explain(KEY, [r]) for r in requests))
    for r, [result] in zip(requests, results, strict=True):
        assert result.timings["batch_size"] == 5, r.method
        np.testing.assert_allclose(result.raw, alone(network, r), rtol=1e-5, atol=1e-6, err_msg=r.method)


async def test_explanations_and_predictions_run_side_by_side(engine: Engine) -> None:
    images = pictures(4)
    predicted, explained = await asyncio.gather(
        engine.infer(KEY, [InferenceRequest(image) for image in images]),
        engine.explain(KEY, [request(image, "guided_backprop") for image in images]),
    )
    for p, e in zip(predicted, explained, strict=True):
        np.testing.assert_allclose(p.probabilities, e.probabilities, rtol=1e-5)


async def test_bad_requests_are_refused(engine: Engine) -> None:
    image = pictures(1)[0]
    with pytest.raises(InvalidParameter):
        await engine.explain(KEY, [ExplainRequest(image[:, :10], "saliency")])
    with pytest.raises(InvalidParameter):
        await engine.explain(KEY, [ExplainRequest(image, "lime")])
    with pytest.raises(InvalidParameter):
        await engine.explain(KEY, [ExplainRequest(image, "saliency", target=(1.0, 0.0))])


async def test_metrics_count_explanations_and_the_queues_add_up(model_store: Path) -> None:
    metrics = Metrics()
    engine = Engine(EngineConfig(model_store, device="cpu", max_batch_size=4, warmup=False), metrics)
    await engine.start()
    await engine.explain(ModelKey("roadnet", 1), [request(image, "saliency") for image in pictures(3)])
    await engine.stop()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.exposition()[0].decode())
        for s in family.samples
    }
    assert samples[("roadlens_inference_items_total", (("model", "roadnet:1"),))] == 3
    reported: list[int] = []

    class Observer:
        def queue_depth(self, depth: int) -> None:
            reported.append(depth)

        def rejected(self, reason: str, items: int) -> None:
            pass

        def expired(self, items: int) -> None:
            pass

    group = SummedDepth(Observer())
    predict, explain = group.part("predict"), group.part("explain")
    predict.queue_depth(3)
    explain.queue_depth(2)
    predict.queue_depth(0)
    assert reported == [3, 5, 2]


async def test_warm_up_covers_the_explanations(model_store: Path) -> None:
    engine = Engine(EngineConfig(model_store, device="cpu", max_batch_size=2, warmup=True), Metrics())
    await engine.start()
    try:
        [result] = await engine.explain(KEY, [request(pictures(1)[0], "integrated_gradients", steps=3)])
        assert result.raw.shape == (96, 96)
    finally:
        await engine.stop()


async def test_a_given_up_explanation_stops_within_a_device_batch(model_store: Path) -> None:
    # Occlusion at window 4 / stride 4 on two images: 2 x 24 x 24 = 1,152 forward passes in 72 device batches.
    engine = Engine(EngineConfig(model_store, device="cpu", warmup=False, explain_max_batch=16), Metrics())
    await engine.start()
    try:
        heavy = [request(image, "occlusion", window=4, stride=4) for image in pictures(2)]
        await engine.explain(KEY, heavy)  # the first gradient-free passes of each shape are slower: not timed
        started = time.monotonic()
        await engine.explain(KEY, heavy)
        full_time = time.monotonic() - started
        running = asyncio.create_task(engine.explain(KEY, heavy))
        await asyncio.sleep(full_time / 5)
        running.cancel()
        started = time.monotonic()
        [light] = await engine.explain(KEY, [request(pictures(1)[0], "saliency")])
        waited = time.monotonic() - started
        assert light.raw.shape == (96, 96)
        assert waited < full_time / 2, (waited, full_time)  # it did not wait for the rest of the heavy batch
    finally:
        await engine.stop()
