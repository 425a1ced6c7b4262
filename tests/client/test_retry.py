"""Retries on 429 and 503: Retry-After honoured, exponential backoff otherwise, and the error once retries run out.

A scripted ``httpx.MockTransport`` stands in for the network (a real 429 needs a full queue at the right
moment); the waits are recorded instead of slept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from roadlens_client import (
    AsyncClient,
    Client,
    InvalidParameter,
    NotReady,
    Overloaded,
    RetryPolicy,
    ServerError,
    UnexpectedResponse,
)
from roadlens_client import aio as aio_module
from roadlens_client import client as client_module
from roadlens_client.retry import parse_retry_after

READY = {"status": "ready", "device": "cpu", "models": [{"name": "roadnet", "version": 1}]}


def error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": f"{code} happened", "detail": {"why": code}}}
    return httpx.Response(status, json=body, headers=headers)


class Script:
    """Answers in order (the last one repeats); records every request."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    waits: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", waits.append)
    yield waits


def scripted(script: Script, retry: RetryPolicy | None = None) -> Client:
    return Client("http://roadlens.test", retry=retry, transport=httpx.MockTransport(script), api_key="k" * 20)


def test_429_waits_what_retry_after_asks_then_succeeds(slept: list[float]) -> None:
    script = Script(error(429, "overloaded", {"Retry-After": "2"}), httpx.Response(200, json=READY))
    assert scripted(script).readiness().status == "ready"
    assert slept == [2.0]
    assert len(script.requests) == 2
    assert all(r.headers["authorization"] == "Bearer " + "k" * 20 for r in script.requests)


def test_503_backs_off_exponentially_then_raises_the_servers_error(slept: list[float]) -> None:
    script = Script(error(503, "not_ready"))
    policy = RetryPolicy(retries=3, backoff=0.4, max_delay=30)
    with pytest.raises(NotReady) as raised:
        scripted(script, policy).readiness()
    assert len(script.requests) == 4
    assert [ceiling / 2 <= wait <= ceiling for wait, ceiling in zip(slept, (0.4, 0.8, 1.6), strict=True)] == [True] * 3
    assert (raised.value.status, raised.value.code, raised.value.message) == (503, "not_ready", "not_ready happened")
    assert raised.value.detail == {"why": "not_ready"}


def test_a_retry_after_longer_than_max_delay_is_not_cut_short(slept: list[float]) -> None:
    script = Script(error(429, "overloaded", {"Retry-After": "120"}), httpx.Response(200, json=READY))
    with pytest.raises(Overloaded) as raised:
        scripted(script, RetryPolicy(max_delay=10)).readiness()
    assert raised.value.retry_after == 120.0
    assert slept == [] and len(script.requests) == 1


def test_only_refusals_are_retried(slept: list[float]) -> None:
    script = Script(error(422, "invalid_parameter"))
    with pytest.raises(InvalidParameter):
        scripted(script).readiness()
    assert slept == [] and len(script.requests) == 1


def test_an_error_body_that_is_not_ours_still_raises_by_status(slept: list[float]) -> None:
    script = Script(httpx.Response(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(ServerError) as raised:
        scripted(script).readiness()
    assert (raised.value.status, raised.value.code) == (502, "http_502")
    assert "Bad Gateway" in raised.value.message


def test_an_unknown_error_code_falls_back_to_the_status(slept: list[float]) -> None:
    with pytest.raises(InvalidParameter) as raised:
        scripted(Script(error(422, "something_new"))).readiness()
    assert raised.value.code == "something_new"


def test_multipart_bodies_are_sent_again_on_retry(slept: list[float]) -> None:
    predicted = {
        "model": {"name": "roadnet", "version": 1},
        "predictions": [{"probabilities": {"road": 0.9}, "labels": ["road"]}],
    }
    script = Script(error(503, "not_ready", {"Retry-After": "0"}), httpx.Response(200, json=predicted))
    result = scripted(script).predict(b"\x89PNG fake bytes")
    assert result.predictions[0].probability == 0.9
    bodies = [request.read() for request in script.requests]
    assert all(b'name="file"' in body and b"\x89PNG fake bytes" in body for body in bodies)  # fresh boundaries


async def test_the_async_client_honours_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(aio_module.asyncio, "sleep", fake_sleep)
    script = Script(
        error(429, "overloaded", {"Retry-After": "3"}), error(503, "not_ready"), httpx.Response(200, json=READY)
    )
    roadlens = AsyncClient(
        "http://roadlens.test", transport=httpx.MockTransport(script), retry=RetryPolicy(backoff=0.2)
    )
    async with roadlens:
        assert (await roadlens.readiness()).device == "cpu"
    assert waits[0] == 3.0 and 0.2 <= waits[1] <= 0.4  # the second wait is the doubled backoff


def test_a_success_the_client_cannot_read_is_a_clear_error(slept: list[float]) -> None:
    with pytest.raises(UnexpectedResponse, match="GET /readyz"):
        scripted(Script(httpx.Response(200, text="<html>a proxy page</html>"))).readiness()
    npz = httpx.Response(200, content=b"not a zip", headers={"content-type": "application/x-npz"})
    with pytest.raises(UnexpectedResponse, match="application/x-npz"):
        scripted(Script(npz)).features(b"\x89PNG")


def test_retry_after_values() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert json.dumps(parse_retry_after("", now)) == "null"
