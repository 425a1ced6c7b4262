"""Fixtures of the HTTP tests: settings on the session's tiny store, and a client with the app's lifespan running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from service.app import create_app
from service.config import Settings
from service.observability.metrics import Metrics
from service.transport.client import EngineClient
from tests.service.socket_engine import SocketEngine

API_KEY = "test-key-0123456789abcdef"


def make_settings(store: Path, **overrides: Any) -> Settings:
    """Fast test settings: CPU, one torch thread, no warm-up, small batches."""
    base: dict[str, Any] = {
        "model_store": store,
        "device": "cpu",
        "warmup": False,
        "max_batch_size": 8,
        "max_wait_ms": 1.0,
        "torch_threads": 1,
        "decode_threads": 2,
    }
    return Settings(**{**base, **overrides})


async def wait_ready(client: httpx.AsyncClient, timeout_s: float = 30.0) -> None:
    """Poll /readyz until 200."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout_s
    while (await client.get("/readyz")).status_code != 200:
        assert loop.time() < give_up, "the service did not become ready"
        await asyncio.sleep(0.01)


# How the app reaches its engine in this test: "local" (in-process, the single-process server) or "socket" (through
# a real Unix socket, as a front-end of the multi-process server does). The ``engine_mode`` fixture sets it.
ENGINE_MODE = {"mode": "local"}


def socket_engine(settings: Settings, metrics: Metrics) -> EngineClient:
    """The engine behind a Unix socket (``SocketEngine``)."""
    return SocketEngine(settings, metrics)


def app_for(settings: Settings, mode: str | None = None) -> FastAPI:
    """``create_app(settings)`` with the engine reached the way ``mode`` (default: the current ``ENGINE_MODE``)
    says."""
    if (mode or ENGINE_MODE["mode"]) == "socket":
        return create_app(settings, socket_engine)
    return create_app(settings)


@pytest.fixture(params=["local", "socket"], autouse=True)
def engine_mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test here runs with the engine in-process and again with it behind a socket."""
    ENGINE_MODE["mode"] = request.param
    try:
        yield request.param
    finally:
        ENGINE_MODE["mode"] = "local"


@asynccontextmanager
async def serve(settings: Settings, ready: bool = True, mode: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A client talking to the app (``app_for(settings, mode)``) through ASGI, inside the app's lifespan."""
    app = app_for(settings, mode)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://roadlens.test") as client:
            if ready:
                await wait_ready(client)
            yield client


@pytest.fixture
def settings(model_store: Path) -> Settings:
    """Default test settings on the session store."""
    return make_settings(model_store)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A ready client on ``settings``."""
    async with serve(settings) as ready_client:
        yield ready_client


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is the uniform error body with ``status`` (and ``code``); returns the ``error`` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "detail"}
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error
