"""RoadLens on a real single-node Ray cluster on 127.0.0.1: two replicas behind Ray's HTTP proxy.

One cluster for the module (about 15-25 s to start on 2 cores); the last test shuts it down and checks that no
process it started is left.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.ray.cluster import (
    LOOPBACK,
    Cluster,
    ray_cluster,
    replica_values,
    settled_values,
    wait_for_exit,
    wait_for_values,
)
from tests.ray.processes import alive, is_loopback, is_unspecified, sockets_of
from tests.service.conftest import make_settings, serve
from tests.service.images import png, tile

if importlib.util.find_spec("ray") is None and os.environ.get("CI") is None:  # CI must run them
    pytest.skip("needs the roadlens[ray] extra (make install-dev installs it)", allow_module_level=True)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REPLICAS = 2
MAX_BATCH_SIZE = 16
SETTINGS: dict[str, Any] = {
    "device": "cpu",
    "warmup": False,
    "torch_threads": 1,
    "decode_threads": 1,
    "max_batch_size": MAX_BATCH_SIZE,
    # Long enough for a concurrent burst to gather behind Ray's proxy, short enough for one-by-one requests.
    "max_wait_ms": 20.0,
}
HTTP_REQUESTS = "ray_roadlens_http_requests_total"


@pytest.fixture(scope="module")
def cluster(model_store: Path) -> Iterator[Cluster]:
    args = {
        "num_replicas": REPLICAS,
        "num_cpus": 1,
        "settings": {**SETTINGS, "model_store": str(model_store)},
        "metrics_export_interval_s": 0.25,
    }
    with ray_cluster(args) as running:
        yield running


def test_every_listener_and_connection_stays_on_loopback(cluster: Cluster) -> None:
    processes = cluster.processes()
    sockets = sockets_of(processes | {os.getpid()})
    listeners = [s for s in sockets if s.listening]
    proxy_port = int(cluster.url.split(":")[2].split("/")[0])
    assert any(s.local[1] == proxy_port for s in listeners), "the proxy's socket was not found"
    assert any(s.command.startswith("ray::ServeReplica") for s in listeners), "no replica socket was found"
    outside = [s for s in listeners if not is_loopback(s.local[0])]
    assert not outside, f"listening beyond loopback: {outside}"
    talking = [s for s in sockets if not s.listening]
    assert all(is_loopback(s.local[0]) and is_loopback(s.remote[0]) for s in talking), talking
    assert all(is_loopback(s.remote[0]) or is_unspecified(s.remote[0]) for s in sockets)


async def test_predictions_equal_the_in_process_servers(cluster: Cluster, model_store: Path) -> None:
    images = [png(tile(seed)) for seed in range(3)]
    settings = make_settings(model_store, **SETTINGS)
    async with serve(settings) as local, httpx.AsyncClient(base_url=cluster.url, timeout=30) as remote:
        for image in images:
            files = {"file": ("tile.png", image, "image/png")}
            here, there = await local.post("/predict", files=files), await remote.post("/predict", files=files)
            assert here.status_code == there.status_code == 200, there.text
            assert there.json()["model"] == here.json()["model"]
            [expected], [got] = here.json()["predictions"], there.json()["predictions"]
            assert got["labels"] == expected["labels"]
            assert got["probabilities"]["road"] == pytest.approx(expected["probabilities"]["road"], abs=1e-6)
            query = {"format": "npy"}
            here = await local.post("/visualbackprop", params=query, files=files)
            there = await remote.post("/visualbackprop", params=query, files=files)
            assert there.status_code == 200, there.text
            mask_here, mask_there = (np.load(io.BytesIO(r.content)) for r in (here, there))
            np.testing.assert_allclose(mask_there, mask_here, atol=1e-5)
        models_here, models_there = await local.get("/models"), await remote.get("/models")
        assert models_there.json() == models_here.json()


async def test_a_bad_request_gets_the_same_json_error_through_the_proxy(cluster: Cluster, model_store: Path) -> None:
    settings = make_settings(model_store, **SETTINGS)
    bad_image = {"files": {"file": ("tile.png", b"not an image at all", "image/png")}}
    bad_parameter = {"files": {"file": ("tile.png", png(), "image/png")}, "params": {"format": "gif"}}
    async with serve(settings) as local, httpx.AsyncClient(base_url=cluster.url, timeout=30) as remote:
        for path, request in (("/predict", bad_image), ("/visualbackprop", bad_parameter)):
            here, there = await local.post(path, **request), await remote.post(path, **request)
            assert 400 <= there.status_code < 500
            assert there.status_code == here.status_code
            assert there.headers["content-type"] == here.headers["content-type"] == "application/json"
            assert there.json() == here.json()


def test_both_replicas_serve_and_both_counts_reach_prometheus(cluster: Cluster) -> None:
    before = settled_values(cluster, HTTP_REQUESTS, endpoint="/predict", status="200")
    sent = 40

    async def send_all() -> None:
        async with httpx.AsyncClient(base_url=cluster.url, timeout=30) as client:
            gate = asyncio.Semaphore(8)

            async def one() -> None:
                async with gate:
                    files = {"file": ("tile.png", png(), "image/png")}
                    assert (await client.post("/predict", files=files)).status_code == 200

            await asyncio.gather(*(one() for _ in range(sent)))

    asyncio.run(send_all())

    def added(values: dict[str, float]) -> dict[str, float]:
        return {replica: value - before.get(replica, 0.0) for replica, value in values.items()}

    counts = added(wait_for_values(cluster, HTTP_REQUESTS, lambda v: sum(added(v).values()) >= sent,
                                   endpoint="/predict", status="200"))  # fmt: skip
    assert sum(counts.values()) == sent
    assert len([replica for replica, count in counts.items() if count > 0]) == REPLICAS, counts
    ready_seconds = replica_values(cluster, "ray_roadlens_replica_ready_seconds")
    assert set(ready_seconds) >= set(counts) and all(seconds > 0 for seconds in ready_seconds.values())


def test_batches_larger_than_five_form_under_concurrent_load(cluster: Cluster) -> None:
    bucket = "ray_roadlens_batch_size_bucket"

    def larger_than_eight(values_le_8: dict[str, float]) -> float:
        return sum(replica_values(cluster, bucket, le="+Inf").values()) - sum(values_le_8.values())

    before = larger_than_eight(settled_values(cluster, bucket, le="8.0"))
    burst = 4 * MAX_BATCH_SIZE

    async def send_burst() -> None:
        limits = httpx.Limits(max_connections=burst)
        async with httpx.AsyncClient(base_url=cluster.url, timeout=60, limits=limits) as client:
            files = {"file": ("tile.png", png(), "image/png")}
            answers = await asyncio.gather(*(client.post("/predict", files=files) for _ in range(burst)))
            assert all(answer.status_code == 200 for answer in answers)

    asyncio.run(send_burst())
    time.sleep(1.5)  # two export intervals
    after = larger_than_eight(replica_values(cluster, bucket, le="8.0"))
    # A batch above the bucket bound 8 has at least 9 requests: Ray's default cap of 5 ongoing requests per
    # replica would never let one form.
    assert after - before > 0


def test_a_killed_replica_is_replaced_while_requests_keep_succeeding(cluster: Cluster) -> None:
    from ray import serve
    from roadlens_client import Client
    from roadlens_client.errors import APIError

    outcomes: list[tuple[float, float, int]] = []  # start, end, HTTP status (200 for success)
    stop = threading.Event()

    def keep_sending() -> None:
        with Client(cluster.url, timeout=30) as client:  # its default retries: 429 and 503 only
            while not stop.is_set():
                started = time.monotonic()
                try:
                    client.predict(png())
                    status = 200
                except APIError as error:
                    status = error.status
                outcomes.append((started, time.monotonic(), status))

    replicas = cluster.replica_processes()
    assert len(replicas) == REPLICAS
    with ThreadPoolExecutor(3) as pool:
        senders = [pool.submit(keep_sending) for _ in range(3)]
        time.sleep(1.0)
        victim = min(replicas)
        os.kill(victim, signal.SIGKILL)
        while alive(victim):
            time.sleep(0.01)
        killed_at = time.monotonic()
        give_up = killed_at + 90
        while time.monotonic() < give_up:
            fresh = cluster.replica_processes() - replicas
            status = serve.status().applications["roadlens"].deployments["RoadLens"]
            if fresh and status.replica_states.get("RUNNING") == REPLICAS:
                break
            time.sleep(0.2)
        replaced_at = time.monotonic()
        time.sleep(2.0)  # the new replica takes its share
        stop.set()
        for sender in senders:
            sender.result()

    assert fresh, "Serve did not start a replica in place of the killed one"
    assert replaced_at < give_up, f"the replacement was not RUNNING after 90 s: {status}"
    after_kill = [status for started, _, status in outcomes if started >= killed_at]
    assert after_kill and set(after_kill) == {200}, sorted(set(after_kill))
    # A request the killed replica was computing dies with it: Ray's proxy answers 500, which is not retried.
    lost = [status for started, ended, status in outcomes if started < killed_at and status != 200]
    assert set(lost) <= {500} and len(lost) <= 2 * MAX_BATCH_SIZE, lost
    assert len([s for started, _, s in outcomes if started >= replaced_at]) > 0


def test_shutdown_leaves_no_ray_process(cluster: Cluster) -> None:
    import ray
    from ray import serve

    cluster.processes()
    serve.shutdown()
    ray.shutdown()
    left = wait_for_exit(cluster)
    assert not left, f"still running after shutdown: {left}"
    assert not any(s.local[0] == LOOPBACK and s.listening for s in sockets_of(set(left)))
