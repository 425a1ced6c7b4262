"""A real single-node Ray cluster on 127.0.0.1 running the RoadLens application, for the tests of this folder."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.client.live import free_port
from tests.ray.processes import alive, command_line, descendants

# Loopback only: Ray registers its node (and binds its listeners) on the external interface unless told not
# to; usage statistics stay off.
CLUSTER_ENVIRONMENT = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
LOOPBACK = "127.0.0.1"
APP = "roadlens"
ROUTE_PREFIX = "/roadlens"
REPLICA_COMMAND = f"ray::ServeReplica:{APP}:RoadLens"


@dataclass
class Cluster:
    """The cluster's addresses, and every process it has started (the test process is their ancestor)."""

    url: str
    metrics_url: str
    args: dict[str, Any]
    others: set[int]  # the test process's children from before the cluster (e.g. a shared live server)
    started: set[int] = field(default_factory=set)

    def processes(self) -> set[int]:
        """The cluster's live processes now, remembered for the check that shutdown ends them all."""
        now = descendants(os.getpid()) - self.others
        self.started |= now
        return now

    def replica_processes(self) -> set[int]:
        """The live RoadLens replica processes."""
        return {pid for pid in self.processes() if command_line(pid).startswith(REPLICA_COMMAND)}

    def left_running(self) -> dict[int, str]:
        """Processes the cluster started that still run (zombies excluded), with their command lines."""
        return {pid: command_line(pid) for pid in sorted(self.started) if alive(pid)}


@contextmanager
def ray_cluster(app_args: dict[str, Any], cpus: int = 4) -> Iterator[Cluster]:
    """A cluster on loopback serving ``build_app(app_args)`` under ``ROUTE_PREFIX``, ready; shut down on exit."""
    others = descendants(os.getpid())
    os.environ.update(CLUSTER_ENVIRONMENT)  # for the processes ray.init starts
    import ray
    from ray import serve
    from ray._private import ray_constants

    # This process's Ray read it on import (tests/ray/conftest.py sets it first).
    assert not ray_constants.ENABLE_RAY_CLUSTER, "Ray was imported before RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0"

    from service.scale.ray_serve import build_app

    ray.init(
        num_cpus=cpus,
        include_dashboard=False,
        _node_ip_address=LOOPBACK,
        log_to_driver=False,
        # Workers hand their metrics to the node's agent every 0.5 s instead of 10 s.
        _system_config={"metrics_report_interval_ms": 500},
    )
    try:
        [node] = ray.nodes()
        port = free_port()
        serve.start(http_options={"host": LOOPBACK, "port": port})
        cluster = Cluster(
            url=f"http://{LOOPBACK}:{port}{ROUTE_PREFIX}",
            metrics_url=f"http://{LOOPBACK}:{node['MetricsExportPort']}/metrics",
            args=app_args,
            others=others,
        )
        serve.run(build_app(app_args), name=APP, route_prefix=ROUTE_PREFIX)
        cluster.processes()
        yield cluster
    finally:
        if ray.is_initialized():  # a test may have shut it down already (serve.shutdown would start a new one)
            try:
                serve.shutdown()
            finally:
                ray.shutdown()


def wait_for_exit(cluster: Cluster, timeout_s: float = 30.0) -> dict[int, str]:
    """Wait for the cluster's processes to end; the ones still running after ``timeout_s``."""
    give_up = time.monotonic() + timeout_s
    while (left := cluster.left_running()) and time.monotonic() < give_up:
        time.sleep(0.2)
    return left


def replica_values(cluster: Cluster, sample: str, **labels: str) -> dict[str, float]:
    """Ray's export of ``sample`` (``ray_`` + the RoadLens name), summed per replica over the matching series."""
    text = httpx.get(cluster.metrics_url, timeout=10).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name != sample or found.labels.get("application") != APP:
                continue
            if all(found.labels.get(name) == value for name, value in labels.items()):
                replica = found.labels["replica"]
                values[replica] = values.get(replica, 0.0) + found.value
    return values


def wait_for_values(
    cluster: Cluster, sample: str, done: Any, timeout_s: float = 20.0, **labels: str
) -> dict[str, float]:
    """Poll Ray's export until ``done(values)`` holds (the values reach it a second or so late)."""
    give_up = time.monotonic() + timeout_s
    while True:
        values = replica_values(cluster, sample, **labels)
        if done(values) or time.monotonic() > give_up:
            return values
        time.sleep(0.25)


def settled_values(cluster: Cluster, sample: str, **labels: str) -> dict[str, float]:
    """``replica_values`` once two reads a few export intervals apart agree (earlier traffic has arrived)."""
    values = replica_values(cluster, sample, **labels)
    for _ in range(20):
        time.sleep(0.75)
        again = replica_values(cluster, sample, **labels)
        if again == values:
            break
        values = again
    return values
