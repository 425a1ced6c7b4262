"""Every Prometheus metric of the service, defined once, in a ``Metrics`` object that owns its registry.

One registry per ``Metrics`` (never the global default) so that tests can build many apps in one process.
Labels stay low-cardinality: ``endpoint`` is a route template, ``model`` is ``"name:version"``.
Latencies are histograms, not summaries, so they can be aggregated across replicas.

With several processes (front-ends and the engine, ``python -m service --workers N``) every process writes its
values to files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode, chosen by that variable
when prometheus-client is first imported), and ``exposition()`` sums them over the processes: a scrape of any
front-end shows the whole server. Gauges say how: the engine's queue depth and model info are its live values,
the front-ends' link gauges are summed over the live front-ends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class ModelKeyLike(Protocol):
    """A model version (``engine.types.ModelKey``)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...


# 0.5 ms .. 10 s: a batch on the device takes milliseconds, an overloaded request can take seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


def model_label(name: str, version: int) -> str:
    """The ``model`` label value: ``"name:version"``."""
    return f"{name}:{version}"


class Metrics:
    """The service's metrics and their registry; ``exposition()`` renders them for ``GET /metrics``.

    ``multiprocess``: expose the sum over every process writing to ``PROMETHEUS_MULTIPROC_DIR`` (which must be
    set before prometheus-client is imported) rather than this process's own values.
    """

    def __init__(self, multiprocess: bool = False) -> None:
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_DIR_VARIABLE) if multiprocess else None
        if multiprocess and not self.multiprocess_dir:
            raise RuntimeError(f"multiprocess metrics need {MULTIPROCESS_DIR_VARIABLE} set before the first import")
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "roadlens_http_requests", "HTTP requests by route template, method and status.",
            ["endpoint", "method", "status"], registry=r,
        )  # fmt: skip
        self.http_duration = Histogram(
            "roadlens_http_request_duration_seconds", "End-to-end HTTP request duration by route template.",
            ["endpoint"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_wait = Histogram(
            "roadlens_queue_wait_seconds", "Time an item waited in the batch queue before its batch started.",
            ["model"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.device_compute = Histogram(
            "roadlens_device_compute_seconds", "Time one batch spent in the device worker (forward + explanation).",
            ["model"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.batch_size = Histogram(
            "roadlens_batch_size", "Items per device batch.", ["model"], buckets=BATCH_SIZE_BUCKETS, registry=r
        )
        self.inference_items = Counter(
            "roadlens_inference_items", "Items computed on the device.", ["model"], registry=r
        )
        self.inference_batches = Counter(
            "roadlens_inference_batches", "Device batches run (items / batches = mean batch size).", ["model"],
            registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "roadlens_queue_depth", "Items waiting in the batch queue.", ["model"], registry=r,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.rejected = Counter(
            "roadlens_rejected", "Items refused at once (reason=queue_full: HTTP 429).", ["model", "reason"],
            registry=r,
        )  # fmt: skip
        self.expired = Counter(
            "roadlens_expired", "Items whose deadline passed before they finished (HTTP 504).", ["model"], registry=r
        )
        self.model_info = Gauge(
            "roadlens_model_info", "Loaded model versions (value 1).", ["name", "version", "device"], registry=r,
            multiprocess_mode="livemax",
        )  # fmt: skip
        self.model_unavailable = Gauge(
            "roadlens_model_unavailable", "Model versions in the store that could not be loaded (value 1; GET "
            "/models says why).", ["name", "version"], registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        self.device_memory = Gauge(
            "roadlens_device_memory_bytes", "Accelerator memory allocated by tensors (absent on CPU).", ["device"],
            registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        self.engine_connected = Gauge(
            "roadlens_engine_connected", "HTTP front-end processes connected to the engine process (multi-process "
            "server only).", registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.engine_in_flight = Gauge(
            "roadlens_engine_requests_in_flight", "Requests the front-ends have sent to the engine process and not "
            "yet had answered (multi-process server only).", registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self._device_memory_reader: Callable[[], None] | None = None

    def observe_http(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """One finished HTTP request; ``endpoint`` must be the route template, never the raw path."""
        self.http_requests.labels(endpoint, method, str(status)).inc()
        self.http_duration.labels(endpoint).observe(seconds)

    def for_model(self, name: str, version: int) -> ModelMetrics:
        """The per-model metrics with their ``model`` label bound."""
        return ModelMetrics(self, model_label(name, version))

    def set_model_info(self, name: str, version: int, device: str) -> None:
        """Mark a model version as loaded on ``device``."""
        self.model_info.labels(name, str(version), device).set(1)

    def set_models(self, device: str, loaded: Iterable[ModelKeyLike], unavailable: Iterable[ModelKeyLike]) -> None:
        """The versions now served on ``device`` (1) and those that could not be loaded (1); versions listed before
        and no longer in that state drop to 0. (Set to 0 rather than removed: in multiprocess mode a removed
        sample would still be read from the process's file.)"""
        _set_exactly(self.model_info, {(k.name, str(k.version), device) for k in loaded})
        _set_exactly(self.model_unavailable, {(k.name, str(k.version)) for k in unavailable})

    def track_device_memory(self, device: str, read_bytes: Callable[[], float]) -> None:
        """Report ``read_bytes()`` for ``device`` now and after every batch (for accelerators only).

        Read after each batch rather than at scrape time, because in multiprocess mode a scrape reads files
        written by the engine process, not a function of the scraping process."""
        gauge = self.device_memory.labels(device)
        self._device_memory_reader = lambda: gauge.set(read_bytes())
        self._device_memory_reader()

    def refresh_device_memory(self) -> None:
        """Read the tracked device's memory again (after a batch)."""
        if self._device_memory_reader is not None:
            self._device_memory_reader()

    def engine_link(self, connected: bool, in_flight: int) -> None:
        """A front-end's link to the engine process: connected or not, and its requests in flight."""
        self.engine_connected.set(1 if connected else 0)
        self.engine_in_flight.set(in_flight)

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text exposition (of every process, in multiprocess mode) and its content type."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry), CONTENT_TYPE_LATEST


def _set_exactly(gauge: Gauge, labelled: set[tuple[str, ...]]) -> None:
    """1 for every label tuple in ``labelled``, 0 for every other one the gauge has."""
    for labels in set(gauge._metrics) | labelled:  # the gauge's children, by label values
        gauge.labels(*labels).set(1 if labels in labelled else 0)


class ModelMetrics:
    """One model's metrics, label bound; also the batch queue's observer."""

    def __init__(self, metrics: Metrics, model: str) -> None:
        self.model = model
        self._metrics = metrics
        self._queue_wait = metrics.queue_wait.labels(model)
        self._compute = metrics.device_compute.labels(model)
        self._batch_size = metrics.batch_size.labels(model)
        self._items = metrics.inference_items.labels(model)
        self._batches = metrics.inference_batches.labels(model)
        self._depth = metrics.queue_depth.labels(model)
        self._expired = metrics.expired.labels(model)
        self._rejected = metrics.rejected

    def queue_depth(self, depth: int) -> None:
        """The number of items now waiting."""
        self._depth.set(depth)

    def rejected(self, reason: str, items: int) -> None:
        """Items refused at once, e.g. reason ``queue_full``."""
        self._rejected.labels(self.model, reason).inc(items)

    def expired(self, items: int) -> None:
        """Items given up on because their deadline passed."""
        self._expired.inc(items)

    def batch(self, waits: list[float], compute_seconds: float) -> None:
        """One device batch: each item's queue wait and the batch's compute time."""
        for wait in waits:
            self._queue_wait.observe(wait)
        self._compute.observe(compute_seconds)
        self._batch_size.observe(len(waits))
        self._items.inc(len(waits))
        self._batches.inc()
        self._metrics.refresh_device_memory()
