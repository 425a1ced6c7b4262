"""``create_app(settings)``: the FastAPI application, its lifespan, routers, error handlers and middleware.

The lifespan builds the metrics, the engine and the image thread pool, then starts the engine (load, verify,
warm up) in the background, so the process answers ``/healthz`` at once while ``/readyz`` says 503 until the
models are ready. On shutdown it stops taking work, lets the engine finish what is queued, and releases the
device and the threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI

from service.api import (
    class_model,
    explain,
    features,
    health,
    metrics,
    models,
    predict,
    segment,
    ui,
    visualbackprop,
)
from service.api.cancellation import InFlight, RequestCancellation
from service.api.deps import SECURITY_SCHEMES, Services
from service.api.errors import install_error_handlers
from service.api.middleware import HTTPMetricsMiddleware
from service.config import Settings
from service.observability.metrics import Metrics
from service.pipeline.decode import Decoder
from service.transport.client import EngineClient

logger = logging.getLogger("service")

API_VERSION = "0.1.0"
DESCRIPTION = """\
Road classification of satellite tiles, with the network's feature maps and VisualBackProp explanations.

**Images** go in as multipart form field `file` (repeat it for several images on `/predict`) or as the raw
request body with an `image/*` content type. PNG, JPEG (CMYK too), WebP, BMP and TIFF are read; EXIF
orientation is applied; transparency is composited over black; every image is resized to the model input
with a bilinear filter.

**Errors** always have the body `{"error": {"code", "message", "detail"}}`: 400 not an image, 401 missing
key, 404 unknown model or route, 413 over a size limit (named), 415 unsupported type, 422 bad parameter
(accepted values named), 429 queue full (see `Retry-After`), 503 not ready, 504 deadline passed.

**Deadlines**: each request has ROADLENS_REQUEST_TIMEOUT_S (default 10 s); the header `X-Request-Timeout-Ms`
can lower it, never raise it.

**Authentication** is off unless API keys are configured (ROADLENS_API_KEYS). Then every endpoint needs
`Authorization: Bearer KEY` or `X-API-Key: KEY`, except `/healthz`, `/readyz`, this documentation
(`/`, `/docs`, `/redoc`, `/openapi.json`: it holds no data) and, while ROADLENS_METRICS_PUBLIC is true,
`/metrics`.
"""
TAGS = [
    {"name": "inference", "description": "Road probabilities."},
    {"name": "explanations", "description": "Feature maps, VisualBackProp masks and the other explanation methods."},
    {"name": "models", "description": "The loaded models and their manifests."},
    {"name": "health", "description": "Liveness and readiness probes."},
    {"name": "observability", "description": "Prometheus metrics."},
]


EngineFactory = Callable[[Settings, Metrics], EngineClient]


def local_engine(settings: Settings, metrics: Metrics) -> EngineClient:
    """The in-process engine: models, batching and the device worker in this process."""
    # Imported here, not at the top: a front-end process, which talks to an engine process, never loads torch.
    from service.engine.engine import build_engine

    return build_engine(settings, metrics)


async def _start_engine(engine: EngineClient) -> None:
    try:
        await engine.start()
    except Exception:  # the store or an artifact is broken: stay up, say why on /readyz (engine.failure)
        logger.exception("the models could not be loaded; /readyz will answer 503")


def _lifespan(
    settings: Settings, make_engine: EngineFactory, make_metrics: Callable[[], Metrics]
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = make_metrics()
        engine = make_engine(settings, registry)
        executor = ThreadPoolExecutor(settings.decode_threads, thread_name_prefix="roadlens-images")
        # The fast decoders hold the GIL: only where no device thread shares the process (Decoder's docstring).
        fast = make_engine is not local_engine
        decoder = Decoder(executor, settings.max_image_pixels, settings.inline_decode_max_pixels, fast)
        services = Services(settings, registry, engine, executor, decoder)
        app.state.services = services
        await engine.connect()  # a front-end learns the engine's state before it listens
        starting = asyncio.create_task(_start_engine(engine), name="roadlens-engine-start")
        try:
            yield
        finally:
            services.stopping = True
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            await engine.stop()
            executor.shutdown(wait=True, cancel_futures=True)

    return lifespan


def create_app(
    settings: Settings, make_engine: EngineFactory = local_engine, make_metrics: Callable[[], Metrics] = Metrics
) -> FastAPI:
    """The application for ``settings``; nothing is loaded until its lifespan starts.

    By default the engine runs in this process (``local_engine``); a front-end process passes a factory for a
    client of the engine process, and metrics that aggregate every process.
    """
    app = FastAPI(
        title="RoadLens",
        version=API_VERSION,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=_lifespan(settings, make_engine, make_metrics),
        generate_unique_id_function=lambda route: route.name,
        # A redirect to the path without its slash would be built from the client's Host header: 404 instead.
        redirect_slashes=False,
    )
    for module in (predict, features, visualbackprop, explain, segment, class_model, models, health, metrics, ui):
        app.include_router(module.router)
    install_error_handlers(app)
    app.state.in_flight = InFlight()
    app.add_middleware(RequestCancellation, in_flight=app.state.in_flight)
    app.add_middleware(HTTPMetricsMiddleware)  # added last: the outermost, it sees every request's final status
    _document_security(app)
    return app


def _document_security(app: FastAPI) -> None:
    """Add the API-key schemes to the OpenAPI components (the operations name them; see ``deps.key_security``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        document.setdefault("components", {}).setdefault("securitySchemes", copy.deepcopy(SECURITY_SCHEMES))
        return document

    app.openapi = openapi  # type: ignore[method-assign]
