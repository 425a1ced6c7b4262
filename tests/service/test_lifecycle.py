"""Readiness, overload, deadlines and graceful shutdown, with the engine slowed or held back."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.engine.engine import Engine
from service.engine.worker import DeviceWorker
from tests.service import images
from tests.service.conftest import assert_error, make_settings, serve, wait_ready

PNG = {"content-type": "image/png"}


def slow_down(monkeypatch: pytest.MonkeyPatch, seconds: float) -> threading.Event:
    """Every device batch takes at least ``seconds`` (the worker thread sleeps first); the event says one began."""
    compute: Callable[..., Any] = DeviceWorker.compute
    started = threading.Event()

    def slow(self: DeviceWorker, *args: Any) -> Any:
        started.set()
        time.sleep(seconds)
        return compute(self, *args)

    monkeypatch.setattr(DeviceWorker, "compute", slow)
    return started


async def predict(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    return await client.post("/predict", content=images.png(), headers={**PNG, **headers})


async def test_not_ready_until_the_engine_has_started(model_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = asyncio.Event()
    start = Engine.start

    async def held_start(self: Engine) -> None:
        await release.wait()
        await start(self)

    monkeypatch.setattr(Engine, "start", held_start)
    async with serve(make_settings(model_store), ready=False) as client:
        assert (await client.get("/healthz")).json() == {"status": "alive"}
        assert_error(await client.get("/readyz"), 503, "not_ready")
        assert_error(await predict(client), 503, "not_ready")
        assert_error(await client.get("/models"), 503, "not_ready")
        release.set()
        await wait_ready(client)
        ready = (await client.get("/readyz")).json()
        assert ready == {"status": "ready", "device": "cpu", "models": [{"name": "roadnet", "version": 1},
                                                                       {"name": "roadnet", "version": 2}],
                         "unavailable": []}  # fmt: skip
        assert (await predict(client)).status_code == 200


async def test_warm_up_then_ready(model_store: Path) -> None:
    async with serve(make_settings(model_store, warmup=True, max_batch_size=4)) as client:
        assert (await client.get("/readyz")).status_code == 200


async def test_a_broken_store_stays_not_ready_and_says_why(tmp_path: Path) -> None:
    async with serve(make_settings(tmp_path / "missing"), ready=False) as client:
        for _ in range(100):
            response = await client.get("/readyz")
            if "could not be loaded" in response.json()["error"]["message"]:
                break
            await asyncio.sleep(0.01)
        assert_error(response, 503, "not_ready")
        assert "missing" not in response.text  # why is in the log (see tests/service/test_hardening.py)
        assert (await client.get("/healthz")).status_code == 200


async def test_full_queue_is_429_with_retry_after(model_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_down(monkeypatch, 0.3)
    async with serve(make_settings(model_store, max_batch_size=1, max_queue=1)) as client:
        responses = await asyncio.gather(*(predict(client) for _ in range(6)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) >= 1 and statuses.count(429) >= 1, statuses
        rejected = next(r for r in responses if r.status_code == 429)
        error = assert_error(rejected, 429, "overloaded")
        assert int(rejected.headers["retry-after"]) >= 1 and error["detail"]["max_queue"] == 1
        assert (await predict(client)).status_code == 200  # and it recovers


async def queue_depth(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("roadlens_queue_depth{"))


async def test_a_full_queue_refuses_before_reading_the_body(model_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    computing = slow_down(monkeypatch, 1.0)
    async with serve(make_settings(model_store, max_batch_size=1, max_queue=1)) as client:
        first = asyncio.create_task(predict(client))
        while not computing.is_set():  # the first request is in its batch
            await asyncio.sleep(0.005)
        second = asyncio.create_task(predict(client))
        while await queue_depth(client) < 1:  # the second waits in the queue, which is now full
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)  # the engine's word that the queue is full reaches the front-end

        async def a_body_that_never_ends() -> AsyncIterator[bytes]:
            yield images.png()[:100]
            await asyncio.Event().wait()

        started = time.monotonic()
        refused = await asyncio.wait_for(client.post("/predict", content=a_body_that_never_ends(), headers=PNG), 5)
        assert time.monotonic() - started < 0.5
        error = assert_error(refused, 429, "overloaded")
        assert int(refused.headers["retry-after"]) >= 1 and "full" in error["message"]
        assert [(await first).status_code, (await second).status_code] == [200, 200]
        text = (await client.get("/metrics")).text
        assert 'roadlens_rejected_total{model="roadnet:2",reason="queue_full"} 1.0' in text
        assert (await predict(client)).status_code == 200  # room again


async def test_deadline_header_gives_504(model_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_down(monkeypatch, 0.6)
    async with serve(make_settings(model_store)) as client:
        started = time.monotonic()
        error = assert_error(await predict(client, **{"x-request-timeout-ms": "50"}), 504, "deadline_exceeded")
        assert time.monotonic() - started < 0.5  # answered at the deadline, not after the 0.6 s batch
        assert error["detail"]["deadline_ms"] == 50
        assert (await predict(client, **{"x-request-timeout-ms": "5000"})).status_code == 200


async def test_the_header_cannot_raise_the_server_deadline(model_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_down(monkeypatch, 0.3)
    async with serve(make_settings(model_store, request_timeout_s=0.1)) as client:
        error = assert_error(await predict(client, **{"x-request-timeout-ms": "60000"}), 504)
        assert error["detail"]["deadline_ms"] == 100


async def test_bad_deadline_header_is_422(client: httpx.AsyncClient) -> None:
    for value in ("0", "-5", "soon"):
        error = assert_error(await predict(client, **{"x-request-timeout-ms": value}), 422, "invalid_parameter")
        assert "X-Request-Timeout-Ms" in error["message"]


async def test_shutdown_drains_in_flight_work_and_reports_not_ready(
    model_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    computing = slow_down(monkeypatch, 0.3)
    app = create_app(make_settings(model_store))
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://roadlens.test") as client:
        await wait_ready(client)
        in_flight = asyncio.create_task(predict(client))
        while not computing.is_set():  # wait until the request is in its device batch
            await asyncio.sleep(0.005)
        stopping = asyncio.create_task(lifespan.__aexit__(None, None, None))
        await asyncio.sleep(0.05)
        assert_error(await client.get("/readyz"), 503, "not_ready")
        assert_error(await predict(client), 503, "not_ready")
        assert (await in_flight).status_code == 200
        await stopping
