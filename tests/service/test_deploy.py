"""The deployment files agree with the app: service name, port, GPU reservation, health check, scrape target."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from service.app import create_app
from service.config import Settings

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "roadlens"


def load(path: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / path).read_text())
    assert isinstance(data, dict)
    return data


def routes() -> set[str]:
    return set(create_app(Settings()).openapi()["paths"])


def test_compose_service_port_and_gpu() -> None:
    port = Settings().port
    service = load("docker-compose.yml")["services"][SERVICE]
    assert service["build"]["dockerfile"] == "Dockerfile.gpu"
    assert f"{port}:{port}" in service["ports"]
    assert str(service["environment"]["ROADLENS_PORT"]) == str(port)
    assert service["environment"]["ROADLENS_HOST"] == "0.0.0.0"
    [device] = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert all(
        key.startswith("ROADLENS_") and key.lower()[9:] in Settings.model_fields for key in service["environment"]
    )


def test_compose_health_check_uses_readyz() -> None:
    service = load("docker-compose.yml")["services"][SERVICE]
    check = " ".join(service["healthcheck"]["test"])
    assert f"127.0.0.1:{Settings().port}/readyz" in check and "/readyz" in routes()


def test_prometheus_scrapes_the_service() -> None:
    compose = load("docker-compose.yml")["services"]["prometheus"]
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in compose["volumes"]
    [job] = load("deploy/prometheus.yml")["scrape_configs"]
    assert job["metrics_path"] in routes()
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == [f"{SERVICE}:{Settings().port}"]


def test_dockerfile_runs_the_service_as_non_root_with_a_readiness_check() -> None:
    text = (ROOT / "Dockerfile.gpu").read_text()
    assert re.search(r"^FROM nvidia/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu", text, re.MULTILINE)
    assert "download.pytorch.org/whl/cu12" in text
    assert re.search(r"^USER roadlens$", text, re.MULTILINE)
    healthcheck = next(line for line in text.splitlines() if line.strip().startswith("CMD") and "readyz" in line)
    assert "/readyz" in healthcheck
    assert "COPY --chown=roadlens:roadlens model_store/ /app/model_store/" in text
    assert f"ROADLENS_PORT={Settings().port}" in text and f"EXPOSE {Settings().port}" in text
    assert 'CMD ["python", "-m", "service"]' in text
    # every ROADLENS_* variable the image sets is a real setting
    for name in re.findall(r"ROADLENS_([A-Z_]+)=", text):
        assert name.lower() in Settings.model_fields, name
