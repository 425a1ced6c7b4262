"""SIGTERM while requests run longer than the grace period: each gets a 503 JSON answer (not a bare 500), the
work they asked for stops, and the server exits 0 soon after the grace period."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import launch, wait_until_ready
from tests.service import images

GRACE_S = 2.0
# Occlusion with a 4 px window moved 1 px at a time: 93 x 93 = 8,649 forward passes per image, seconds of work.
HEAVY = "/explain/occlusion?window=4&stride=1&format=npy"


@pytest.mark.parametrize("workers", ["0", "2"])
async def test_requests_still_running_at_the_end_of_the_grace_period_get_503(
    model_store: Path, tmp_path: Path, workers: str
) -> None:
    flags = ("--workers", workers, "--no-warmup", "--shutdown-timeout-s", str(GRACE_S), "--explain-min-stride", "1")
    with launch(model_store, tmp_path, *flags) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            await wait_until_ready(client, server)
            body = images.png()
            heavy = [
                asyncio.ensure_future(client.post(HEAVY, content=body, headers={"content-type": "image/png"}))
                for _ in range(4)
            ]
            await asyncio.sleep(1.5)  # accepted and computing
            assert not any(task.done() for task in heavy)
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            answers = await asyncio.gather(*heavy)
            status = await asyncio.to_thread(server.process.wait, 60)
            stopped_after = time.monotonic() - signalled
    for answer in answers:
        assert answer.status_code == 503 and answer.headers["content-type"] == "application/json", answer.text
        assert answer.json()["error"]["code"] == "not_ready"
        assert answer.json()["error"]["detail"] == {"reason": "shutdown_grace_period_over"}
    assert status == 0, server.output()
    assert stopped_after < GRACE_S + 5, stopped_after  # the abandoned work was not finished first
    output = server.output()
    assert "Traceback" not in output and "Exception in ASGI application" not in output, output
