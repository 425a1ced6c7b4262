"""What handlers receive: the app's services, the caller's identity check, the model, the deadline and the images.

Each dependency has a named ``Annotated`` alias; handlers list the aliases they need, in the order the checks
should run (authentication, readiness and model first, the body last, so cheap refusals never read a body).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Query, Request
from starlette.datastructures import Headers

from service.api.body import read_images
from service.api.inference import Deadline
from service.config import MODEL_NAME_PATTERN, Settings
from service.engine.types import EXPLAIN, FORWARD, ModelInfo
from service.errors import InvalidParameter, NotReady, Unauthorized
from service.observability.metrics import Metrics
from service.pipeline.decode import Decoder
from service.transport.client import EngineClient

T = TypeVar("T")


@dataclass
class Services:
    """Everything the lifespan builds, reachable from every request as ``request.app.state.services``."""

    settings: Settings
    metrics: Metrics
    engine: EngineClient
    executor: ThreadPoolExecutor
    decoder: Decoder
    stopping: bool = False

    @property
    def ready(self) -> bool:
        """Models loaded and warmed up, and not shutting down."""
        return self.engine.ready and not self.stopping

    def require_ready(self) -> None:
        """Raise ``NotReady`` (503) unless ready."""
        if self.engine.failure is not None:  # why is in the log (and on /readyz for a key holder)
            raise NotReady("the models could not be loaded; the server log says why")
        if not self.ready:
            raise NotReady("not ready: the models are loading or warming up, or the service is shutting down")

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU-bound ``fn(*args)`` (image encoding) in the thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, partial(fn, *args))


def services_of(request: Request) -> Services:
    """The app's services (503 when the lifespan has not run)."""
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise NotReady("the service is starting")
    return services


# Dependencies below take the Request and call services_of() rather than depending on get_services: each
# sub-dependency costs FastAPI a resolution step per request, which shows on the hot path. They are all
# ``async`` although none awaits, because FastAPI runs plain ``def`` dependencies in a thread pool.
async def get_services(request: Request) -> Services:
    """The app's services, for handlers."""
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]

# The two ways to send a key, as OpenAPI security schemes. They are documented (``key_security()`` on each
# operation, ``SECURITY_SCHEMES`` in the components) but not used as FastAPI dependencies: resolving those two
# classes cost about 100 microseconds per request, half of all dependency resolution on the hot path, where
# reading two headers costs almost nothing.
BEARER_SCHEME = "BearerKey"
HEADER_SCHEME = "ApiKeyHeader"
API_KEY_HEADER = "X-API-Key"
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    BEARER_SCHEME: {
        "type": "http",
        "description": "`Authorization: Bearer KEY`. Only enforced when API keys are configured (ROADLENS_API_KEYS).",
        "scheme": "bearer",
    },
    HEADER_SCHEME: {
        "type": "apiKey",
        "description": "`X-API-Key: KEY`, the alternative to the bearer header. Only enforced when API keys are "
        "configured.",
        "in": "header",
        "name": API_KEY_HEADER,
    },
}


def key_security() -> dict[str, Any]:
    """``openapi_extra`` for an operation that needs a key when keys are on (a fresh dict per operation)."""
    return {"security": [{BEARER_SCHEME: []}, {HEADER_SCHEME: []}]}


def _digest(key: str) -> bytes:
    # Hashing first gives equal-length inputs to compare_digest, so timing does not reveal a key's length.
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def key_matches(offered: str, settings: Settings) -> bool:
    """Constant-time check of ``offered`` against every configured key (no early exit on a match)."""
    wanted = _digest(offered)
    found = False
    for key in settings.api_keys:
        found |= hmac.compare_digest(wanted, _digest(key.get_secret_value()))
    return found


def offered_keys(headers: Headers) -> list[str]:
    """The keys a request carries: ``Authorization: Bearer KEY`` (scheme case-insensitive) and ``X-API-Key``."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    bearer = credentials.strip() if scheme.lower() == "bearer" else ""
    return [value for value in (bearer, headers.get(API_KEY_HEADER, "")) if value]


async def require_api_key(request: Request) -> None:
    """401 unless API keys are off or one of the two headers carries a configured key."""
    settings = services_of(request).settings
    if not settings.auth_enabled:
        return
    if not any(key_matches(value, settings) for value in offered_keys(request.headers)):
        raise Unauthorized(
            "a valid API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
            detail={"accepted_headers": ["Authorization: Bearer", "X-API-Key"]},
        )


async def require_metrics_key(request: Request) -> None:
    """Like ``require_api_key``, unless ``metrics_public`` exempts /metrics."""
    if not services_of(request).settings.metrics_public:
        await require_api_key(request)


ModelName = Annotated[
    str | None,
    Query(
        pattern=MODEL_NAME_PATTERN,
        description="Model name (lowercase letters, digits, '-', '_'); default: the service's default model.",
        examples=["roadnet"],
    ),
]
ModelVersion = Annotated[
    int | None, Query(ge=1, description="Model version; default: the newest of that model.", examples=[1])
]


async def resolve_model(request: Request, model: ModelName = None, version: ModelVersion = None) -> ModelInfo:
    """The model version a request names (503 before ready, 404 for one not in the store)."""
    services = services_of(request)
    services.require_ready()
    return services.engine.resolve(model, version)


async def forward_model(request: Request, model: ModelName = None, version: ModelVersion = None) -> ModelInfo:
    """``resolve_model``, then 429 at once while the model's forward-pass queue is full: before the body is read."""
    info = await resolve_model(request, model, version)
    services_of(request).engine.admit(info.key, FORWARD)
    return info


async def explain_model(request: Request, model: ModelName = None, version: ModelVersion = None) -> ModelInfo:
    """``resolve_model``, then 429 at once while the model's explanation queue is full: before the body is read."""
    info = await resolve_model(request, model, version)
    services_of(request).engine.admit(info.key, EXPLAIN)
    return info


async def request_deadline(
    request: Request,
    timeout_ms: Annotated[
        int | None,
        Header(
            alias="X-Request-Timeout-Ms",
            gt=0,
            description="Lower this request's deadline (milliseconds); it cannot raise the server's "
            "(ROADLENS_REQUEST_TIMEOUT_S, default 10 s). 504 when it passes.",
            examples=[2000],
        ),
    ] = None,
) -> Deadline:
    """The request's absolute deadline, counted from its arrival."""
    arrived = getattr(request.state, "received_at", None) or time.monotonic()
    budget = services_of(request).settings.request_timeout_s
    if timeout_ms is not None:
        budget = min(budget, timeout_ms / 1000.0)
    return Deadline(at=arrived + budget, budget_s=budget)


async def uploaded_images(request: Request) -> list[bytes]:
    """The request's images (any number up to ``max_images_per_request``)."""
    services = services_of(request)
    settings = services.settings
    images = await read_images(request, settings.max_body_bytes, settings.max_form_parts, services.executor)
    if len(images) > settings.max_images_per_request:
        raise InvalidParameter(
            f"{len(images)} images in one request; the limit is {settings.max_images_per_request}",
            detail={"images": len(images), "limit": settings.max_images_per_request},
        )
    return images


async def uploaded_image(request: Request) -> bytes:
    """The request's single image (422 for more than one)."""
    services = services_of(request)
    settings = services.settings
    images = await read_images(request, settings.max_body_bytes, settings.max_form_parts, services.executor)
    if len(images) != 1:
        raise InvalidParameter(
            f"this endpoint takes exactly one image, got {len(images)}", detail={"images": len(images), "accepted": 1}
        )
    return images[0]


Authorized = Depends(require_api_key)
MetricsAuthorized = Depends(require_metrics_key)
ModelDep = Annotated[ModelInfo, Depends(resolve_model)]
ForwardModelDep = Annotated[ModelInfo, Depends(forward_model)]
ExplainModelDep = Annotated[ModelInfo, Depends(explain_model)]
DeadlineDep = Annotated[Deadline, Depends(request_deadline)]
ImagesDep = Annotated[list[bytes], Depends(uploaded_images)]
ImageDep = Annotated[bytes, Depends(uploaded_image)]
