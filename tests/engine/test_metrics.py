"""The Prometheus metrics: names, types, labels, buckets, and one registry per ``Metrics``."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from service.observability.metrics import Metrics


def families(metrics: Metrics) -> dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    return {
        f.name: (f.type, [(s.name, s.labels, s.value) for s in f.samples])
        for f in text_string_to_metric_families(body.decode())
    }


def test_exposition_parses_with_every_metric_and_type() -> None:
    metrics = Metrics()
    metrics.observe_http("/v1/predict", "POST", 200, 0.012)
    model = metrics.for_model("roadnet", 3)
    model.batch([0.001, 0.002, 0.0005], compute_seconds=0.004)
    model.queue_depth(7)
    model.rejected("queue_full", 2)
    model.expired(1)
    metrics.set_model_info("roadnet", 3, "cpu")
    found = families(metrics)
    kinds = {name: kind for name, (kind, _) in found.items() if not name.endswith("_created")}  # client timestamps
    assert kinds == {
        "roadlens_http_requests": "counter",
        "roadlens_http_request_duration_seconds": "histogram",
        "roadlens_queue_wait_seconds": "histogram",
        "roadlens_device_compute_seconds": "histogram",
        "roadlens_batch_size": "histogram",
        "roadlens_inference_items": "counter",
        "roadlens_inference_batches": "counter",
        "roadlens_queue_depth": "gauge",
        "roadlens_rejected": "counter",
        "roadlens_expired": "counter",
        "roadlens_model_info": "gauge",
        "roadlens_model_unavailable": "gauge",
        "roadlens_device_memory_bytes": "gauge",
        "roadlens_engine_connected": "gauge",
        "roadlens_engine_requests_in_flight": "gauge",
    }
    samples = {(name, tuple(sorted(labels.items()))): value for _, ss in found.values() for name, labels, value in ss}
    assert (
        samples[("roadlens_http_requests_total", (("endpoint", "/v1/predict"), ("method", "POST"), ("status", "200")))]
        == 1
    )
    assert samples[("roadlens_inference_items_total", (("model", "roadnet:3"),))] == 3
    assert samples[("roadlens_inference_batches_total", (("model", "roadnet:3"),))] == 1
    assert samples[("roadlens_queue_wait_seconds_count", (("model", "roadnet:3"),))] == 3
    assert samples[("roadlens_queue_wait_seconds_bucket", (("le", "0.001"), ("model", "roadnet:3")))] == 2
    assert samples[("roadlens_batch_size_bucket", (("le", "2.0"), ("model", "roadnet:3")))] == 0
    assert samples[("roadlens_batch_size_bucket", (("le", "4.0"), ("model", "roadnet:3")))] == 1
    assert samples[("roadlens_queue_depth", (("model", "roadnet:3"),))] == 7
    assert samples[("roadlens_rejected_total", (("model", "roadnet:3"), ("reason", "queue_full")))] == 2
    assert samples[("roadlens_expired_total", (("model", "roadnet:3"),))] == 1
    assert samples[("roadlens_model_info", (("device", "cpu"), ("name", "roadnet"), ("version", "3")))] == 1


def test_latency_and_batch_buckets() -> None:
    metrics = Metrics()
    metrics.observe_http("/v1/models", "GET", 200, 0.0001)
    metrics.for_model("m", 1).batch([0.0], compute_seconds=0.0)
    found = families(metrics)
    latency = [s[1]["le"] for s in found["roadlens_http_request_duration_seconds"][1] if s[0].endswith("_bucket")]
    assert latency[0] == "0.0005" and latency[-2:] == ["10.0", "+Inf"]
    sizes = [s[1]["le"] for s in found["roadlens_batch_size"][1] if s[0].endswith("_bucket")]
    assert sizes == ["1.0", "2.0", "4.0", "8.0", "16.0", "32.0", "64.0", "128.0", "+Inf"]


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()  # a second set of the same names must not collide
    first.observe_http("/healthz", "GET", 200, 0.001)
    first_samples = families(first)["roadlens_http_requests"][1]
    assert [value for name, _, value in first_samples if name.endswith("_total")] == [1]
    assert families(second)["roadlens_http_requests"][1] == []


def test_device_memory_is_read_when_tracked_and_after_every_batch() -> None:
    metrics = Metrics()
    allocated = [1024.0]
    metrics.track_device_memory("cuda:0", lambda: allocated[0])
    [(_, labels, value)] = families(metrics)["roadlens_device_memory_bytes"][1]
    assert labels == {"device": "cuda:0"} and value == 1024.0
    allocated[0] = 4096.0
    metrics.for_model("roadnet", 1).batch([0.001], compute_seconds=0.002)
    [(_, _, value)] = families(metrics)["roadlens_device_memory_bytes"][1]
    assert value == 4096.0
