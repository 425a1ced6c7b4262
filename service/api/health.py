"""``GET /healthz`` (the process answers) and ``GET /readyz`` (models loaded and warmed up); both answer ``HEAD``
too, as health checkers send it: the same status and headers, no body.

``/readyz`` needs no key, so it says *that* the models could not be loaded, never *why*: the reason (store
paths, checksums, the loader's error text) is in the server log, and in the 503's detail only for a caller
with a valid API key when keys are on.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.api.deps import Services, ServicesDep, key_matches, offered_keys
from service.api.docs import error_responses
from service.errors import NotReady
from service.schemas import Health, ModelRef, Readiness

router = APIRouter(tags=["health"])


READYZ_RESPONSES = error_responses(503)


@router.head(
    "/healthz", name="healthz_head", summary="Liveness (HEAD)", response_model=Health, response_description="Alive."
)
@router.get("/healthz", summary="Liveness", response_model=Health, response_description="The process is alive.")
async def healthz() -> Health:
    """Always 200 while the process serves HTTP: a liveness probe. Never needs an API key. HEAD: no body."""
    return Health(status="alive")


@router.head(
    "/readyz",
    name="readyz_head",
    summary="Readiness (HEAD)",
    response_model=Readiness,
    response_description="Ready to serve.",
    responses=READYZ_RESPONSES,
)
@router.get(
    "/readyz",
    summary="Readiness",
    response_model=Readiness,
    response_description="Ready to serve.",
    responses=READYZ_RESPONSES,
)
async def readyz(request: Request, services: ServicesDep) -> Readiness:
    """200 once every model is loaded and warmed up; 503 before that and while shutting down. HEAD: no body.

    Point load balancers and container health checks here. Never needs an API key. When the models could not be
    loaded, the 503 says so; why is in the server log (and in `detail.reason` for a caller with a valid API key,
    when keys are on).
    """
    check_ready(request, services)
    models = [ModelRef(name=m.key.name, version=m.key.version) for m in services.engine.models()]
    unavailable = [ModelRef(name=key.name, version=key.version) for key in sorted(services.engine.unavailable())]
    return Readiness(status="ready", device=services.engine.device, models=models, unavailable=unavailable)


def check_ready(request: Request, services: Services) -> None:
    """``NotReady`` (503) unless ready, with the start-up failure's text only for a caller with a valid key."""
    failure = services.engine.failure
    if failure is not None:
        settings = services.settings
        trusted = settings.auth_enabled and any(key_matches(key, settings) for key in offered_keys(request.headers))
        raise NotReady(
            "the models could not be loaded; the server log says why",
            detail={"reason": failure} if trusted else {},
        )
    services.require_ready()
