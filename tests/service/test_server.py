"""A real ``python -m service`` (uvicorn, httptools, uvloop) on a free port: ready, batching, graceful stop."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.service import images

ROOT = Path(__file__).resolve().parents[2]
CONCURRENT = 32


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(model_store: Path, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """The service as a subprocess: configured by flags and environment, logs in a file."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROADLENS_")}
    env.update(ROADLENS_MODEL_STORE=str(model_store), ROADLENS_DEVICE="cpu", ROADLENS_TORCH_THREADS="1")
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--max-batch-size", "32", "--max-wait-ms", "25", "--no-access-log"]
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}", process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def wait_until_ready(client: httpx.AsyncClient, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(600):
        assert process.poll() is None, log.read_text()
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        await asyncio.sleep(0.1)
    raise AssertionError(f"not ready after 60 s:\n{log.read_text()}")


async def counters(client: httpx.AsyncClient) -> tuple[float, float]:
    text = (await client.get("/metrics")).text
    found = {"roadlens_inference_items_total": 0.0, "roadlens_inference_batches_total": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in found:
                found[sample.name] += sample.value
    return found["roadlens_inference_items_total"], found["roadlens_inference_batches_total"]


async def test_concurrent_requests_share_device_batches(server: tuple[str, subprocess.Popen[bytes], Path]) -> None:
    url, process, log = server
    limits = httpx.Limits(max_connections=CONCURRENT)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        await wait_until_ready(client, process, log)
        items_before, batches_before = await counters(client)
        bodies = [images.png(images.tile(i)) for i in range(CONCURRENT)]
        responses = await asyncio.gather(
            *(client.post("/predict", content=body, headers={"content-type": "image/png"}) for body in bodies)
        )
        assert [r.status_code for r in responses] == [200] * CONCURRENT
        items, batches = await counters(client)
    assert items - items_before == CONCURRENT
    assert 1 <= batches - batches_before < CONCURRENT, (items, batches)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) in (0, -signal.SIGTERM), log.read_text()  # uvicorn re-raises the signal it handled
    output = log.read_text()
    assert "Traceback" not in output, output
    assert "engine ready on cpu with roadnet:1, roadnet:2" in output
    assert output.index("Application shutdown complete") > output.index("Shutting down")
