"""``GET /healthz`` (the process answers) and ``GET /readyz`` (models loaded and warmed up)."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ServicesDep
from service.api.docs import error_responses
from service.schemas import Health, ModelRef, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness", response_model=Health, response_description="The process is alive.")
async def healthz() -> Health:
    """Always 200 while the process serves HTTP: a liveness probe. Never needs an API key."""
    return Health(status="alive")


@router.get(
    "/readyz",
    summary="Readiness",
    response_model=Readiness,
    response_description="Ready to serve.",
    responses=error_responses(503),
)
async def readyz(services: ServicesDep) -> Readiness:
    """200 once every model is loaded and warmed up; 503 before that and while shutting down.

    Point load balancers and container health checks here. Never needs an API key.
    """
    services.require_ready()
    models = [ModelRef(name=m.key.name, version=m.key.version) for m in services.engine.models()]
    unavailable = [ModelRef(name=key.name, version=key.version) for key in sorted(services.engine.unavailable())]
    return Readiness(status="ready", device=services.engine.device, models=models, unavailable=unavailable)
