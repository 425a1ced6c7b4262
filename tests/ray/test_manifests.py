"""The Ray Serve config, the Ray image and the Kubernetes manifests, checked offline against the app and Ray itself."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.api.metrics import METRICS_PATH
from service.app import create_app
from service.config import Settings
from tests.service.test_deploy import imported_distributions, installed_with

if importlib.util.find_spec("ray") is None and os.environ.get("CI") is None:  # CI must run them
    pytest.skip("needs the roadlens[ray] extra (make install-dev installs it)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
SERVE_CONFIG = ROOT / "deploy" / "ray" / "serve_config.yaml"
RAY_DOCKERFILE = ROOT / "deploy" / "ray" / "Dockerfile"
RAYSERVICE = ROOT / "deploy" / "k8s" / "rayservice.yaml"
PLAIN = ROOT / "deploy" / "k8s" / "roadlens.yaml"
BUILDER = "service.scale.ray_serve:build_app"


def documents(path: Path) -> dict[str, dict[str, Any]]:
    """The YAML documents of ``path`` by kind."""
    return {document["kind"]: document for document in yaml.safe_load_all(path.read_text())}


def routes() -> set[str]:
    return set(create_app(Settings()).openapi()["paths"])


def pinned_ray() -> str:
    [pin] = re.findall(r'"ray\[serve\]==([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    return pin


def check_serve_config(config: dict[str, Any]) -> Any:
    """Valid for Ray's own schema, one RoadLens application whose builder accepts its args; the application."""
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate(config)
    [app] = schema.applications
    assert app.import_path == BUILDER
    module, name = app.import_path.split(":")
    built = getattr(importlib.import_module(module), name)(app.args)
    for variable in (app.runtime_env or {}).get("env_vars", {}):
        assert variable.startswith("ROADLENS_") and variable[9:].lower() in Settings.model_fields, variable
    return app, built._bound_deployment


def test_serve_config_is_valid_for_ray_and_keeps_the_paths() -> None:
    config = yaml.safe_load(SERVE_CONFIG.read_text())
    app, deployment = check_serve_config(config)
    assert app.route_prefix == "/"  # the same URLs as python -m service: the web page, client and CLI work
    assert {"/predict", "/visualbackprop", "/readyz", METRICS_PATH} <= routes()
    assert config["http_options"] == {"host": "127.0.0.1", "port": Settings().port}
    assert deployment.name == "RoadLens" and deployment.num_replicas == 1
    batch = app.args["settings"]["max_batch_size"]
    assert deployment.max_ongoing_requests == 2 * batch > 5
    assert deployment.ray_actor_options["num_gpus"] == 0


def test_the_serve_config_is_in_the_usage_line_that_the_readme_gives() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "serve run deploy/ray/serve_config.yaml" in readme
    assert "serve run deploy/ray/serve_config.yaml" in SERVE_CONFIG.read_text()


def test_rayservice_runs_the_same_application_on_gpu_workers() -> None:
    manifests = documents(RAYSERVICE)
    service = manifests["RayService"]
    assert service["apiVersion"] == "ray.io/v1"
    serve_config = yaml.safe_load(service["spec"]["serveConfigV2"])
    app, deployment = check_serve_config(serve_config)
    assert app.route_prefix == "/"
    assert app.args["settings"]["device"] == "cuda"
    assert 0 < deployment.ray_actor_options["num_gpus"] <= 1
    autoscaling = deployment._deployment_config.autoscaling_config
    assert autoscaling.target_ongoing_requests == app.args["settings"]["max_batch_size"]
    assert deployment.max_ongoing_requests == 2 * app.args["settings"]["max_batch_size"]

    cluster = service["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"] == pinned_ray() == importlib.metadata.version("ray")
    head = cluster["headGroupSpec"]
    [head_container] = head["template"]["spec"]["containers"]
    head_ports = {port["name"]: port["containerPort"] for port in head_container["ports"]}
    assert head_ports["serve"] == Settings().port  # KubeRay's serve Service targets the proxy's port
    assert head["rayStartParams"]["num-cpus"] == "0"
    [gpu] = cluster["workerGroupSpecs"]
    [worker] = gpu["template"]["spec"]["containers"]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == gpu["rayStartParams"]["num-gpus"] == "1"
    assert worker["image"] == head_container["image"] == "roadlens:ray-gpu"
    for group, container in ((head, head_container), (gpu, worker)):
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert str(ports["metrics"]) == group["rayStartParams"]["metrics-export-port"]
        labels = group["template"]["metadata"]["labels"]
        monitor = manifests["PodMonitor"]["spec"]
        assert monitor["selector"]["matchLabels"].items() <= labels.items()
        assert [endpoint["port"] for endpoint in monitor["podMetricsEndpoints"]] == ["metrics"]


def test_the_ray_image_builds_on_the_gpu_image_and_installs_what_the_ray_code_imports() -> None:
    text = RAY_DOCKERFILE.read_text()
    assert "ARG BASE_IMAGE=roadlens:gpu" in text and "FROM ${BASE_IMAGE}" in text
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["roadlens"]["image"] == "roadlens:gpu"  # what Dockerfile.gpu is tagged
    assert f'"ray[serve]=={pinned_ray()}"' in text
    assert re.search(r"^USER roadlens$", text, re.MULTILINE) and "ENV PYTHONPATH=/app" in text
    specs = [
        spec
        for path in (ROOT / "Dockerfile.gpu", RAY_DOCKERFILE)
        for line in path.read_text().replace("\\\n", " ").splitlines()
        if "pip install" in line
        for spec in re.findall(r'"([A-Za-z0-9][^"\s$]*)"', line)
    ]
    needed = imported_distributions(ROOT / "service" / "scale") - {"roadlens"}  # the image copies service/
    assert "ray" in needed
    assert needed <= installed_with([*specs, "torch"])


def test_plain_kubernetes_manifests_agree_with_the_app() -> None:
    manifests = documents(PLAIN)
    deployment, service, autoscaler = (
        manifests["Deployment"],
        manifests["Service"],
        manifests["HorizontalPodAutoscaler"],
    )
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert all(name.startswith("ROADLENS_") and name[9:].lower() in Settings.model_fields for name in env)
    settings = Settings(**{name[9:].lower(): value for name, value in env.items()})
    [port] = container["ports"]
    assert port["containerPort"] == settings.port and settings.host == "0.0.0.0"
    assert container["image"] == "roadlens:gpu" and container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    for probe, path in (("startupProbe", "/readyz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert container[probe]["httpGet"] == {"path": path, "port": port["name"]} and path in routes()
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == METRICS_PATH and annotations["prometheus.io/port"] == str(settings.port)
    assert pod["spec"]["terminationGracePeriodSeconds"] > settings.shutdown_timeout_s
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"] == pod["metadata"]["labels"]
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    assert autoscaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "roadlens"}
    monitor = manifests["PodMonitor"]["spec"]
    assert monitor["podMetricsEndpoints"][0] == {"port": port["name"], "path": METRICS_PATH, "interval": "15s"}


def test_the_ray_prometheus_config_reads_rays_service_discovery_file() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "ray" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["file_sd_configs"] == [{"files": ["/tmp/ray/prom_metrics_service_discovery.json"]}]
