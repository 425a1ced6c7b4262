"""GET /metrics in Prometheus text format: HTTP requests by route template and status, inference counters."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.service import images


async def scrape(client: httpx.AsyncClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: list[tuple[dict[str, str], float]], **labels: str) -> float:
    return sum(v for found, v in samples if all(found.get(k) == want for k, want in labels.items()))


async def test_requests_are_counted_by_route_template(client: httpx.AsyncClient) -> None:
    png = {"content-type": "image/png"}
    for _ in range(3):
        assert (await client.post("/predict", content=images.png(), headers=png)).status_code == 200
    assert (await client.post("/predict", content=b"junk", headers=png)).status_code == 400
    assert (await client.get("/no/such/path/12345")).status_code == 404
    assert (await client.get("/predict")).status_code == 405
    samples = await scrape(client)
    requests = samples["roadlens_http_requests_total"]
    assert value(requests, endpoint="/predict", method="POST", status="200") == 3
    assert value(requests, endpoint="/predict", method="POST", status="400") == 1
    assert value(requests, endpoint="/predict", method="GET", status="405") == 1
    assert value(requests, endpoint="unmatched", status="404") == 1
    assert {labels["endpoint"] for labels, _ in requests} <= {"/predict", "/readyz", "unmatched"}
    latency = samples["roadlens_http_request_duration_seconds_count"]
    assert value(latency, endpoint="/predict") == 5


async def test_inference_counters_and_model_info(client: httpx.AsyncClient) -> None:
    files = [("file", (f"{i}.png", images.png(images.tile(i)), "image/png")) for i in range(4)]
    assert (await client.post("/predict", files=files)).status_code == 200
    samples = await scrape(client)
    assert value(samples["roadlens_inference_items_total"], model="roadnet:2") == 4
    assert 1 <= value(samples["roadlens_inference_batches_total"], model="roadnet:2") <= 4
    assert value(samples["roadlens_model_info"], name="roadnet", version="2", device="cpu") == 1
