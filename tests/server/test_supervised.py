"""The multi-process server for real: ``python -m service --workers 2`` (a supervisor, two HTTP front-ends on one
port, one engine process), loaded through real sockets, with processes killed and signalled."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psutil

from tests.server.conftest import Server, launch, samples, total, wait_until_ready
from tests.service import images

PNG = {"content-type": "image/png"}
FAST = ("--workers", "2", "--no-warmup", "--max-batch-size", "32")


@asynccontextmanager
async def running(store: Path, folder: Path, *flags: str) -> AsyncIterator[tuple[Server, httpx.AsyncClient]]:
    with launch(store, folder, *FAST, *flags) as server:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
            await wait_until_ready(client, server)  # and both front-ends connected to the engine
            yield server, client


def predict(client: httpx.AsyncClient, seed: int = 0, **headers: str) -> asyncio.Task[httpx.Response]:
    body = images.png(images.tile(seed))
    return asyncio.ensure_future(client.post("/predict", content=body, headers={**PNG, **headers}))


async def test_front_ends_share_the_engines_batches_and_its_metrics(model_store: Path, tmp_path: Path) -> None:
    # A 300 ms fill wait: requests sent together from connections spread over both front-ends meet in one batch.
    async with running(model_store, tmp_path, "--max-wait-ms", "300") as (server, client):
        assert len(server.frontends()) == 2
        before = (await client.get("/metrics")).text
        responses = await asyncio.gather(*(predict(client, i) for i in range(24)))
        assert [r.status_code for r in responses] == [200] * 24
        spread = server.connections_by_frontend()
        assert sum(1 for n in spread.values() if n > 0) == 2, spread  # both front-ends served some of them
        after = (await client.get("/metrics")).text
    batches = total(after, "roadlens_inference_batches_total") - total(before, "roadlens_inference_batches_total")
    assert total(after, "roadlens_inference_items_total") - total(before, "roadlens_inference_items_total") == 24
    assert 1 <= batches < 24, batches


async def test_every_front_end_answers_the_same_metrics(model_store: Path, tmp_path: Path) -> None:
    async with running(model_store, tmp_path) as (server, client):
        assert (await predict(client)).status_code == 200
        pids = [p.pid for p in server.frontends()]
        scrapes: dict[int, str] = {}
        for _ in range(200):  # fresh connections until each front-end has answered a scrape
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as one:
                await one.get("/healthz")
                owner = next(pid for pid, n in server.connections_by_frontend().items() if n)
                scrapes.setdefault(owner, (await one.get("/metrics")).text)
            if len(scrapes) == len(pids):
                break
        assert sorted(scrapes) == sorted(pids)

        def comparable(text: str) -> dict[object, float]:
            # The scrapes and health checks themselves move between scrapes; everything else must agree.
            return {k: v for k, v in samples(text).items() if ("endpoint", "/metrics") not in k[1]
                    and ("endpoint", "/healthz") not in k[1]}  # fmt: skip

        first, second = (comparable(text) for text in scrapes.values())
        assert first == second
        assert first[("roadlens_engine_connected", ())] == 2
        assert first[("roadlens_inference_items_total", (("model", "roadnet:2"),))] == 1


async def wait_until_accepted(client: httpx.AsyncClient, requests: list[asyncio.Task[httpx.Response]]) -> int:
    """Until every request is answered or waiting on the engine (read, decoded, queued); how many are waiting."""
    give_up = time.monotonic() + 30
    while True:
        waiting = samples((await client.get("/metrics")).text)[("roadlens_engine_requests_in_flight", ())]
        if waiting + sum(r.done() for r in requests) >= len(requests):
            return int(waiting)
        assert time.monotonic() < give_up, "the requests were not accepted in time"
        await asyncio.sleep(0.02)


async def test_sigterm_loses_no_accepted_request_and_exits_zero(model_store: Path, tmp_path: Path) -> None:
    # Batches wait up to 3 s to fill to 64: at the signal, requests are held in the engine's queue.
    async with running(model_store, tmp_path, "--max-wait-ms", "3000", "--max-batch-size", "64") as (server, client):
        in_flight = [predict(client, i) for i in range(40)]
        assert await wait_until_accepted(client, in_flight) > 0
        server.process.send_signal(signal.SIGTERM)
        answers = await asyncio.gather(*in_flight, return_exceptions=True)
        exit_status = await asyncio.to_thread(server.process.wait, 60)
    statuses = [a.status_code for a in answers if isinstance(a, httpx.Response)]
    assert statuses == [200] * 40, answers
    assert exit_status == 0, server.output()
    output = server.output()
    assert "Traceback" not in output, output
    assert output.index("engine stopping") > output.rindex("Application shutdown complete")  # front-ends first


async def test_a_killed_front_end_is_replaced_while_the_other_serves(model_store: Path, tmp_path: Path) -> None:
    async with running(model_store, tmp_path) as (server, _):
        victim, survivor = server.frontends()
        victim.kill()
        statuses = []
        give_up = time.monotonic() + 60
        while time.monotonic() < give_up:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as fresh:  # a new connection each time
                try:
                    statuses.append((await fresh.post("/predict", content=images.png(), headers=PNG)).status_code)
                except httpx.TransportError:
                    statuses.append(0)  # a connection caught in the dead process's queue
            pids = {p.pid for p in server.frontends()}
            if len(pids) == 2 and victim.pid not in pids:
                break
        assert survivor.pid in pids and victim.pid not in pids and len(pids) == 2, server.output()
        assert statuses.count(200) >= len(statuses) - 2 and all(s in (0, 200) for s in statuses), statuses
        assert "frontend-" in server.output() and "exited with -9" in server.output()


async def test_a_killed_engine_fails_waiting_requests_at_once_then_comes_back(
    model_store: Path, tmp_path: Path
) -> None:
    async with running(model_store, tmp_path, "--max-wait-ms", "20000") as (server, client):
        waiting = [predict(client, i) for i in range(4)]  # held up to 20 s for their batch to fill
        assert await wait_until_accepted(client, waiting) == 4
        killed = time.monotonic()
        server.engine().kill()
        answers = await asyncio.gather(*waiting)
        assert time.monotonic() - killed < 5  # 503 at once, not after the batch wait or a timeout
        assert {r.status_code for r in answers} == {503}
        assert {r.json()["error"]["code"] for r in answers} == {"not_ready"}
        assert (await client.get("/readyz")).status_code == 503
        # the supervisor restarted it, and both front-ends reconnected: else part of the batch meets one reconnecting
        await wait_until_ready(client, server)
        full_batch = await asyncio.gather(*(predict(client, i) for i in range(32)))  # a full batch leaves at once
        assert [r.status_code for r in full_batch] == [200] * 32


async def test_no_slot_is_leaked_by_disconnects_and_deadlines(model_store: Path, tmp_path: Path) -> None:
    async with running(model_store, tmp_path, "--max-wait-ms", "20") as (server, client):
        body = images.png()
        request = (
            f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        rng = random.Random(0)

        async def one(i: int) -> str:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                roll = rng.random()
                if roll < 0.15:  # a deadline too short to meet
                    writer.write(request.replace(b"\r\n\r\n", b"\r\nX-Request-Timeout-Ms: 1\r\n\r\n", 1))
                else:
                    writer.write(request)
                await writer.drain()
                if roll > 0.6:  # gone before the answer: now, or a little later
                    await asyncio.sleep(rng.random() * 0.02)
                    return "gone"
                status = (await reader.readline()).split(b" ")[1].decode()
                return status
            finally:
                writer.close()

        outcomes: list[str] = []
        for start in range(0, 2000, 100):
            outcomes += await asyncio.gather(*(one(i) for i in range(start, start + 100)))
        assert outcomes.count("gone") > 500 and outcomes.count("200") > 500, outcomes
        assert set(outcomes) <= {"gone", "200", "504"}, sorted(set(outcomes))
        await asyncio.sleep(1.0)  # let the last cancellations arrive
        found = samples((await client.get("/metrics")).text)
        assert found[("roadlens_engine_requests_in_flight", ())] == 0
        assert all(value == 0 for (name, _), value in found.items() if name == "roadlens_queue_depth")
        assert found.get(("roadlens_http_requests_total", (("endpoint", "/predict"), ("method", "POST"),
                                                            ("status", "499"))), 0) > 0  # fmt: skip
        assert (await predict(client)).status_code == 200
        assert len(server.frontends()) == 2 and server.engine().is_running()


def test_front_ends_do_not_load_torch(model_store: Path, tmp_path: Path) -> None:
    with launch(model_store, tmp_path, *FAST) as server:
        give_up = time.monotonic() + 60
        while len(server.frontends()) < 2 or not any(".so" in m.path for m in server.engine().memory_maps()):
            assert time.monotonic() < give_up and server.process.poll() is None, server.output()
            time.sleep(0.1)
        time.sleep(1.0)  # the front-ends' apps have started

        def loads_torch(process: psutil.Process) -> bool:
            return any("libtorch" in m.path for m in process.memory_maps())

        assert not any(loads_torch(front) for front in server.frontends())
        give_up = time.monotonic() + 60
        while not loads_torch(server.engine()):
            assert time.monotonic() < give_up, server.output()
            time.sleep(0.1)
        assert server.stop() == 0
    assert os.path.exists(tmp_path)
