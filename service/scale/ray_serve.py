"""RoadLens as a Ray Serve application: ``import_path: service.scale.ray_serve:build_app``.

One deployment, ``RoadLens``, wraps the single-process server with ``serve.ingress`` in its builder form: each
replica builds ``create_app(settings)`` itself, so each has its own engine and dynamic batcher, started by the
app's lifespan. A replica's settings are the Serve config's ``args.settings`` over its own ``ROADLENS_*``
environment (set them in the config's ``runtime_env.env_vars``, or in the environment of ``serve run``); routes
keep their paths under the application's ``route_prefix``.

What Ray would otherwise get wrong for a batching server is derived here from the settings:

- ``max_ongoing_requests`` (Ray's default 5 silently caps every batch at 5 requests, ray-project/ray#43288):
  twice ``max_batch_size``, so one batch runs while the next one fills;
- ``autoscaling`` (Ray's ``target_ongoing_requests`` defaults to 2, which would add replicas long before a batch
  fills): ``target_ongoing_requests`` is ``max_batch_size`` unless given;
- ``num_gpus`` per replica: 1 when the device is CUDA, else 0 (fractions put several replicas on one GPU); a
  replica with device ``auto`` that reserves no GPU runs on the CPU, since Ray would not hide the GPUs from it;
- ``max_queued_requests`` (unbounded in Ray): ``max_queue``, answered 429 with ``Retry-After`` like a full queue;
- readiness: a replica joins the proxy's routing only once its models are loaded and warmed up (its constructor
  waits for them; a store that cannot be loaded fails the replica with the reason), and Serve's health check
  asks the same question as ``/readyz``, so a replica whose engine stops is replaced;
- ``graceful_shutdown_timeout_s``: ``shutdown_timeout_s``.

The Serve config's ``deployments:`` entries still override any of these options, as Ray documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, model_validator
from ray import serve
from ray.serve import Application
from ray.serve.metrics import Gauge

from service.api.deps import Services
from service.app import create_app
from service.config import Settings
from service.scale.ray_metrics import mirrored
from service.scale.replica_grpc import bind_to_node_address

logger = logging.getLogger("service")

DEPLOYMENT_NAME = "RoadLens"
READY_SECONDS = "roadlens_replica_ready_seconds"
# One batch on the device while the next one fills.
ONGOING_REQUESTS_PER_BATCH_SIZE = 2
# Ray rounds Retry-After up to whole seconds; a full RoadLens queue says at least 1 s too.
BACKPRESSURE_RETRY_AFTER_S = 1.0
READY_POLL_S = 0.05


class RayServeArgs(BaseModel):
    """The Serve config's ``args`` for ``build_app``; every field is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: dict[str, Any] = Field(
        default_factory=dict, description="RoadLens settings (service/config.py field names) over ROADLENS_*."
    )
    num_replicas: int | None = Field(default=None, ge=1, description="Fixed replica count (default 1).")
    autoscaling: dict[str, Any] | None = Field(
        default=None, description="Ray's autoscaling_config; target_ongoing_requests defaults to max_batch_size."
    )
    num_gpus: float | None = Field(
        default=None, ge=0, description="GPUs per replica (fractions share one); default 1 on CUDA, else 0."
    )
    num_cpus: float = Field(default=1.0, ge=0, description="CPUs Ray reserves per replica.")
    max_ongoing_requests: int | None = Field(
        default=None, ge=1, description="Requests one replica takes at once; default 2 x max_batch_size."
    )
    max_queued_requests: int | None = Field(
        default=None, ge=-1, description="Requests a proxy holds for the deployment (-1: unbounded); default "
        "max_queue. Beyond it: 429 with Retry-After.",
    )  # fmt: skip
    health_check_period_s: float = Field(default=10.0, gt=0, description="Seconds between readiness checks.")
    health_check_timeout_s: float = Field(default=30.0, gt=0, description="Seconds before a check counts as failed.")
    metrics_export_interval_s: float = Field(
        default=5.0, ge=0, description="Seconds between copies of the metrics to Ray's export (0: none)."
    )

    @model_validator(mode="after")
    def _one_way_to_count_replicas(self) -> RayServeArgs:
        if self.num_replicas is not None and self.autoscaling is not None:
            raise ValueError("give num_replicas or autoscaling, not both")
        return self


def replica_gpus(args: RayServeArgs, settings: Settings) -> float:
    """GPUs Ray reserves for each replica; refuses combinations a replica could not honour."""
    cuda = settings.device.startswith("cuda")
    if re.fullmatch(r"cuda:[1-9][0-9]*", settings.device):
        raise ValueError("under Ray a replica sees only the GPUs Ray assigns it: use device 'cuda' (or 'auto')")
    gpus = args.num_gpus if args.num_gpus is not None else (1.0 if cuda else 0.0)
    if cuda and gpus == 0:
        raise ValueError("device 'cuda' needs num_gpus > 0: Ray hides the GPUs from replicas that reserve none")
    if settings.device == "cpu" and gpus > 0:
        raise ValueError(f"num_gpus {gpus} reserves GPUs that replicas on device 'cpu' would not use")
    return gpus


def deployment_options(args: RayServeArgs, settings: Settings) -> dict[str, Any]:
    """The ``RoadLens`` deployment's options for ``args`` and the settings they give."""
    queued = args.max_queued_requests
    if queued is None:
        queued = settings.max_queue if settings.max_queue > 0 else -1
    options: dict[str, Any] = {
        "name": DEPLOYMENT_NAME,
        "max_ongoing_requests": args.max_ongoing_requests or ONGOING_REQUESTS_PER_BATCH_SIZE * settings.max_batch_size,
        "max_queued_requests": queued,
        "backpressure_config": {"status_code": 429, "retry_after_s": BACKPRESSURE_RETRY_AFTER_S},
        "ray_actor_options": {"num_cpus": args.num_cpus, "num_gpus": replica_gpus(args, settings)},
        "health_check_period_s": args.health_check_period_s,
        "health_check_timeout_s": args.health_check_timeout_s,
        "graceful_shutdown_timeout_s": settings.shutdown_timeout_s,
    }
    if args.autoscaling is not None:
        options["autoscaling_config"] = {"target_ongoing_requests": settings.max_batch_size, **args.autoscaling}
    else:
        options["num_replicas"] = args.num_replicas or 1
    return options


async def wait_until_ready(services: Services) -> None:
    """Return once the engine is ready; raise with the reason when the models cannot be loaded."""
    while not services.engine.ready:
        if services.engine.failure is not None:
            raise RuntimeError(f"the models could not be loaded: {services.engine.failure}")
        await asyncio.sleep(READY_POLL_S)


def _record_start_up(seconds: float) -> None:
    """Export how long this replica took from building its app to ready (its share of a cold start)."""
    logger.info("replica ready %.2f s after building its app (engine imported, models loaded, warmed up)", seconds)
    Gauge(READY_SECONDS, description="Seconds from the replica building its app to ready: the engine and torch "
          "imported, the models loaded and warmed up.").set(seconds)  # fmt: skip


def _serving_when_ready(
    inner: Callable[[FastAPI], AbstractAsyncContextManager[Any]], metrics_interval_s: float, built_at: float
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan, finishing start-up only when ready, and mirroring the metrics while it serves."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            services: Services = app.state.services
            await wait_until_ready(services)
            _record_start_up(time.monotonic() - built_at)
            async with mirrored(services.metrics.registry, metrics_interval_s):
                yield

    return lifespan


def replica_app(overrides: dict[str, Any], metrics_interval_s: float) -> FastAPI:
    """One replica's app: ``create_app`` on the replica's settings, ready before its start-up returns."""
    built_at = time.monotonic()
    app = create_app(Settings(**overrides))
    app.router.lifespan_context = _serving_when_ready(app.router.lifespan_context, metrics_interval_s, built_at)
    return app


class RoadLensReplica:
    """The deployment class ``serve.ingress`` wraps; the app itself comes from the builder."""

    app: FastAPI  # set by Serve's ASGI wrapper from the builder

    def __init__(self) -> None:
        bind_to_node_address()

    def check_health(self) -> None:
        """Serve's health check: the ``/readyz`` question (a failure makes Serve replace the replica)."""
        services: Services | None = getattr(self.app.state, "services", None)
        if services is None:
            raise RuntimeError("the app's lifespan has not started")
        services.require_ready()


def _app_builder(overrides: dict[str, Any], metrics_interval_s: float) -> Callable[[], FastAPI]:
    # A plain function (Serve calls it in each replica); a functools.partial would be taken for an app.
    def build() -> FastAPI:
        return replica_app(overrides, metrics_interval_s)

    return build


def build_app(args: dict[str, Any]) -> Application:
    """Serve's application builder: the Serve config's ``args`` in, the RoadLens application out.

    The settings are checked here, where ``serve run`` or the controller builds the application, so a bad value
    stops the deploy with its name instead of failing every replica.
    """
    parsed = RayServeArgs.model_validate(args)
    settings = Settings(**parsed.settings)
    options = deployment_options(parsed, settings)
    overrides = dict(parsed.settings)
    if settings.device == "auto" and options["ray_actor_options"]["num_gpus"] == 0:
        # Ray leaves a replica that reserves no GPU free to see them all: it must not use one unscheduled.
        overrides["device"] = "cpu"
    ingress = serve.ingress(_app_builder(overrides, parsed.metrics_export_interval_s))(RoadLensReplica)
    return serve.deployment(**options)(ingress).bind()
