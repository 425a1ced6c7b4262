"""The deployment files agree with the app: service name, port, GPU reservation, health check, scrape target."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement

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


def imported_distributions(package: Path, leave_out: Path | None = None) -> set[str]:
    """The installed distributions that the modules under ``package`` (but not ``leave_out``) import (standard
    library left out)."""
    modules: set[str] = set()
    for path in package.rglob("*.py"):
        if leave_out is not None and path.is_relative_to(leave_out):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    owners = importlib.metadata.packages_distributions()
    third_party = modules - set(sys.stdlib_module_names) - {package.name}
    return {canonical(dist) for module in third_party for dist in owners[module]}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_with(requirements: list[str]) -> set[str]:
    """The distributions that installing ``requirements`` brings in: them and, from their metadata, their
    dependencies (with the extras asked for), transitively."""
    found: set[str] = set()
    pending = [Requirement(text) for text in requirements]
    while pending:
        requirement = pending.pop()
        name = canonical(requirement.name)
        if name in found:
            continue
        found.add(name)
        for text in importlib.metadata.requires(requirement.name) or []:
            needed = Requirement(text)
            extras = requirement.extras or {""}
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(needed)
    return found


def test_the_image_installs_every_distribution_the_service_imports() -> None:
    text = (ROOT / "Dockerfile.gpu").read_text().replace("\\\n", " ")
    specs = [
        spec
        for line in text.splitlines()
        if "pip install" in line
        for spec in re.findall(r'"([A-Za-z0-9][^"\s$]*)"', line)
    ]
    installed = installed_with([*specs, "torch"])  # torch's spec is built from build arguments
    # service/scale is the roadlens[ray] extra: the Ray image installs it (tests/ray/test_manifests.py).
    needed = imported_distributions(ROOT / "service", leave_out=ROOT / "service" / "scale")
    assert {"torch", "pillow", "isal", "starlette"} <= needed  # the scan sees direct and transitive imports
    assert needed <= installed, f"Dockerfile.gpu does not install {sorted(needed - installed)}"
