"""Optional API keys: both header styles, 401 in the error shape, and the exempt endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from service.api import deps
from tests.service import images
from tests.service.conftest import API_KEY, assert_error, make_settings, serve

OTHER_KEY = "second-key-abcdefghijklmnop"
PNG = {"content-type": "image/png"}


@pytest.fixture
async def locked(model_store: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(make_settings(model_store, api_keys=f"{API_KEY},{OTHER_KEY}")) as client:
        yield client


async def test_missing_or_wrong_key_is_401(locked: httpx.AsyncClient) -> None:
    for headers in ({}, {"x-api-key": "wrong-key-0123456789"}, {"authorization": "Bearer nope"},
                    {"authorization": f"Basic {API_KEY}"}):  # fmt: skip
        response = await locked.post("/predict", content=images.png(), headers={**PNG, **headers})
        error = assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "X-API-Key" in error["message"]
    assert_error(await locked.get("/models"), 401)


async def test_both_header_styles_and_every_key_work(locked: httpx.AsyncClient) -> None:
    for headers in ({"authorization": f"Bearer {API_KEY}"}, {"x-api-key": API_KEY}, {"x-api-key": OTHER_KEY}):
        response = await locked.post("/predict", content=images.png(), headers={**PNG, **headers})
        assert response.status_code == 200, response.text
        assert (await locked.get("/models", headers=headers)).status_code == 200


async def test_authentication_comes_before_reading_the_body(locked: httpx.AsyncClient) -> None:
    response = await locked.post("/predict", content=b"not an image", headers=PNG)
    assert_error(response, 401)


async def test_probes_docs_and_public_metrics_need_no_key(locked: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/"):
        assert (await locked.get(path)).status_code == 200, path


async def test_metrics_can_require_the_key(model_store: Path) -> None:
    async with serve(make_settings(model_store, api_keys=API_KEY, metrics_public=False)) as client:
        assert_error(await client.get("/metrics"), 401)
        assert (await client.get("/metrics", headers={"x-api-key": API_KEY})).status_code == 200


async def test_keys_are_compared_in_constant_time(locked: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = deps.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(deps.hmac, "compare_digest", spy)
    assert (await locked.get("/models", headers={"x-api-key": API_KEY})).status_code == 200
    assert len(calls) == 2  # every configured key is compared, even after the first one matched
    assert all(len(a) == len(b) == 32 for a, b in calls)  # digests: equal lengths, so no length leak


async def test_keys_are_off_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.get("/models")).status_code == 200
