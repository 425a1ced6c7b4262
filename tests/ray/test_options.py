"""The builder's arithmetic, without a cluster: deployment options derived from the settings, and the metrics copy."""

from __future__ import annotations

import importlib.util
import os
from typing import Any, ClassVar

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import ValidationError

if importlib.util.find_spec("ray") is None and os.environ.get("CI") is None:  # CI must run them
    pytest.skip("needs the roadlens[ray] extra (make install-dev installs it)", allow_module_level=True)

from service.config import Settings
from service.scale import ray_metrics
from service.scale.ray_serve import RayServeArgs, build_app, deployment_options


def options(args: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return deployment_options(RayServeArgs(**args), Settings(**settings))


def test_max_ongoing_requests_follows_the_batch_size_so_batches_can_fill() -> None:
    assert options({}, max_batch_size=32)["max_ongoing_requests"] == 64
    assert options({}, max_batch_size=4)["max_ongoing_requests"] == 8
    assert options({"max_ongoing_requests": 100}, max_batch_size=4)["max_ongoing_requests"] == 100


def test_replicas_fixed_or_autoscaled_around_a_full_batch() -> None:
    assert options({})["num_replicas"] == 1
    assert options({"num_replicas": 3})["num_replicas"] == 3
    scaled = options({"autoscaling": {"min_replicas": 1, "max_replicas": 4}}, max_batch_size=16)
    assert "num_replicas" not in scaled
    assert scaled["autoscaling_config"] == {"target_ongoing_requests": 16, "min_replicas": 1, "max_replicas": 4}
    own_target = options({"autoscaling": {"max_replicas": 4, "target_ongoing_requests": 3}})
    assert own_target["autoscaling_config"]["target_ongoing_requests"] == 3
    with pytest.raises(ValidationError, match="not both"):
        RayServeArgs(num_replicas=2, autoscaling={"max_replicas": 4})


def test_gpus_are_reserved_when_the_device_is_cuda() -> None:
    assert options({}, device="cuda")["ray_actor_options"]["num_gpus"] == 1
    assert options({"num_gpus": 0.5}, device="cuda")["ray_actor_options"]["num_gpus"] == 0.5
    assert options({}, device="cpu")["ray_actor_options"]["num_gpus"] == 0
    assert options({"num_gpus": 1}, device="auto")["ray_actor_options"]["num_gpus"] == 1
    for args, device in (({"num_gpus": 0}, "cuda"), ({"num_gpus": 1}, "cpu"), ({}, "cuda:1")):
        with pytest.raises(ValueError):
            options(args, device=device)


def test_overload_beyond_the_queue_is_a_429_with_retry_after_and_shutdown_drains() -> None:
    derived = options({}, max_queue=200, shutdown_timeout_s=12.0)
    assert derived["max_queued_requests"] == 200
    assert derived["backpressure_config"] == {"status_code": 429, "retry_after_s": 1.0}
    assert derived["graceful_shutdown_timeout_s"] == 12.0
    assert options({}, max_queue=0)["max_queued_requests"] == -1


def test_bad_args_and_settings_stop_the_build_with_their_names() -> None:
    with pytest.raises(ValidationError, match="max_batch_size"):
        build_app({"settings": {"max_batch_size": 0}})
    with pytest.raises(ValidationError, match="num_replica"):
        build_app({"num_replica": 2})


class RecordedGauge:
    """Stands in for ray.serve.metrics.Gauge, which needs a running replica."""

    made: ClassVar[list[RecordedGauge]] = []

    def __init__(self, name: str, description: str, tag_keys: tuple[str, ...]) -> None:
        self.name, self.description, self.tag_keys = name, description, tag_keys
        self.values: list[tuple[float, dict[str, str]]] = []
        RecordedGauge.made.append(self)

    def set(self, value: float, tags: dict[str, str]) -> None:
        assert set(tags) == set(self.tag_keys)
        self.values.append((value, tags))


def test_the_mirror_copies_every_exposition_sample_once_per_change(monkeypatch: pytest.MonkeyPatch) -> None:
    RecordedGauge.made.clear()
    monkeypatch.setattr(ray_metrics, "Gauge", RecordedGauge)
    registry = CollectorRegistry()
    requests = Counter("roadlens_http_requests", "Requests.", ["endpoint"], registry=registry)
    duration = Histogram("roadlens_duration_seconds", "Duration.", buckets=(0.1, 1.0), registry=registry)
    requests.labels("/predict").inc(3)
    duration.observe(0.5)
    mirror = ray_metrics.MetricsMirror(registry)

    mirror.sync()
    gauges = {gauge.name: gauge for gauge in RecordedGauge.made}
    assert set(gauges) == {
        "roadlens_http_requests_total",
        "roadlens_duration_seconds_bucket",
        "roadlens_duration_seconds_sum",
        "roadlens_duration_seconds_count",
    }
    assert gauges["roadlens_http_requests_total"].values == [(3.0, {"endpoint": "/predict"})]
    buckets = {tags["le"]: value for value, tags in gauges["roadlens_duration_seconds_bucket"].values}
    assert buckets == {"0.1": 0.0, "1.0": 1.0, "+Inf": 1.0}
    assert gauges["roadlens_duration_seconds_sum"].values == [(0.5, {})]

    assert mirror.sync() == 0  # nothing changed: nothing recorded
    requests.labels("/predict").inc()
    assert mirror.sync() == 1
    assert gauges["roadlens_http_requests_total"].values[-1] == (4.0, {"endpoint": "/predict"})
