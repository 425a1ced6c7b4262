"""A multipart body of very many tiny fields is refused at the parts limit, without holding up the event loop:
/healthz answers all the while (it once stalled 5.6 s), through a real server process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.http.server import Server, running_service

PART = b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\nv\r\n'
MULTIPART = {"content-type": "multipart/form-data; boundary=b"}
HEALTHZ_LIMIT_S = 1.0  # measured before the parts limit: 5.6 s and 12 s


async def upload_while_probing(server: Server, body: bytes) -> tuple[httpx.Response, list[float]]:
    """POST ``body`` to /predict while another connection asks /healthz every 50 ms; the probes' latencies."""
    latencies: list[float] = []
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=60) as probe,
        httpx.AsyncClient(base_url=server.url, timeout=60) as uploader,
    ):

        async def probing() -> None:
            while True:
                started = time.perf_counter()
                assert (await probe.get("/healthz")).status_code == 200
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.05)

        task = asyncio.create_task(probing())
        await asyncio.sleep(0.2)
        response = await uploader.post("/predict", content=body, headers=MULTIPART)
        await asyncio.sleep(0.2)
        task.cancel()
    return response, latencies


def test_many_tiny_fields_are_refused_without_stalling_the_server(model_store: Path, tmp_path: Path) -> None:
    body = PART * 384_000 + b"--b--\r\n"  # 20 MB, as in the report
    with running_service(model_store, tmp_path, max_body_bytes=str(32 * 1024 * 1024)) as server:
        response, latencies = asyncio.run(upload_while_probing(server, body))
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["detail"] == {"limit_parts": 128, "setting": "ROADLENS_MAX_FORM_PARTS"}
    assert len(latencies) >= 3 and max(latencies) < HEALTHZ_LIMIT_S, latencies
