"""Every replica's RoadLens metrics through Ray's metrics export.

Behind Ray's proxy, ``GET /metrics`` reaches one replica chosen at random, so a scrape of it sees a fraction of
the traffic. Ray exports metrics recorded with ``ray.serve.metrics`` from every worker through each node's
metrics agent (``ray start --metrics-export-port``), tagged with ``application``, ``deployment`` and
``replica``. ``MetricsMirror`` copies a replica's registry there: each sample of the Prometheus exposition
(counters as ``*_total``, histograms as ``*_bucket`` / ``*_sum`` / ``*_count``) becomes a Ray gauge of the same
name holding the current value, which Ray exports with the prefix ``ray_``. Gauges keep the exposition's
semantics exactly: ``rate()`` and ``histogram_quantile()`` work on them as on the plain server's series (a
replica's series start at zero, like a restarted process's), where re-observing histograms into Ray's own
histogram type would lose the sums.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import cast

from prometheus_client import CollectorRegistry
from ray.serve.metrics import Gauge

logger = logging.getLogger("service")

# A counter's creation time is an exposition detail (a Unix timestamp), not a measurement.
SKIPPED_SUFFIXES = ("_created",)


class MetricsMirror:
    """Copies the current values of ``registry`` into Ray gauges; ``sync()`` once per export interval."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._gauges: dict[str, Gauge] = {}
        self._last: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def sync(self) -> int:
        """Record every sample whose value changed since the last call; returns how many were recorded."""
        recorded = 0
        for family in self._registry.collect():
            for sample in family.samples:
                if sample.name.endswith(SKIPPED_SUFFIXES):
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if self._last.get(key) == sample.value:
                    continue
                self._gauge(sample.name, family.documentation, key[1]).set(sample.value, tags=dict(key[1]))
                self._last[key] = sample.value
                recorded += 1
        return recorded

    def _gauge(self, name: str, documentation: str, labels: tuple[tuple[str, str], ...]) -> Gauge:
        gauge = self._gauges.get(name)
        if gauge is None:
            # Every sample of one name has the same label names (le only on buckets, which have their own name).
            tag_keys = tuple(label for label, _ in labels)
            # Ray annotates tag_keys as a one-element tuple; any tuple of names is accepted.
            gauge = self._gauges[name] = Gauge(name, description=documentation, tag_keys=cast("tuple[str]", tag_keys))
        return gauge


async def _mirror_forever(mirror: MetricsMirror, interval_s: float) -> None:
    while True:
        try:
            mirror.sync()
        except Exception:  # a metrics hiccup must never stop the replica from serving
            logger.exception("copying the metrics to Ray's export failed; trying again in %.1f s", interval_s)
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def mirrored(registry: CollectorRegistry, interval_s: float) -> AsyncIterator[MetricsMirror | None]:
    """Copy ``registry`` to Ray's export every ``interval_s`` seconds while the block runs (0: never)."""
    if interval_s <= 0:
        yield None
        return
    mirror = MetricsMirror(registry)
    task = asyncio.create_task(_mirror_forever(mirror, interval_s), name="roadlens-ray-metrics")
    try:
        yield mirror
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            mirror.sync()  # the last counts of a replica that is stopping
        except Exception:
            logger.exception("the last copy of the metrics to Ray's export failed")
