"""A real ``python -m service`` (uvicorn, httptools, uvloop) on a free port, in one process and supervised:
ready, batching, a graceful stop with exit status 0."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import launch, total, wait_until_ready
from tests.service import images

CONCURRENT = 32


@pytest.mark.parametrize("workers", ["0", "2"])
async def test_concurrent_requests_share_device_batches(model_store: Path, tmp_path: Path, workers: str) -> None:
    with launch(model_store, tmp_path, "--workers", workers, "--max-batch-size", "32", "--max-wait-ms", "25") as server:
        limits = httpx.Limits(max_connections=CONCURRENT)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
            await wait_until_ready(client, server)
            before = (await client.get("/metrics")).text
            bodies = [images.png(images.tile(i)) for i in range(CONCURRENT)]
            responses = await asyncio.gather(
                *(client.post("/predict", content=body, headers={"content-type": "image/png"}) for body in bodies)
            )
            assert [r.status_code for r in responses] == [200] * CONCURRENT
            after = (await client.get("/metrics")).text
        items = total(after, "roadlens_inference_items_total") - total(before, "roadlens_inference_items_total")
        batches = total(after, "roadlens_inference_batches_total") - total(before, "roadlens_inference_batches_total")
        assert items == CONCURRENT
        assert 1 <= batches < CONCURRENT, (items, batches)
        assert server.stop() == 0, server.output()  # a clean drain exits 0, not with the signal's status
    output = server.output()
    assert "Traceback" not in output, output
    assert "engine ready on cpu with roadnet:1, roadnet:2" in output
    assert output.index("Application shutdown complete") > output.index("Shutting down")
