"""``GET /models``: the loaded model versions and their manifests."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import Authorized, ServicesDep, key_security
from service.api.docs import error_responses
from service.schemas import ModelEntry, ModelsResponse

router = APIRouter(tags=["models"], dependencies=[Authorized])


@router.get(
    "/models",
    openapi_extra=key_security(),
    summary="List models",
    response_model=ModelsResponse,
    response_description="The loaded models.",
    responses=error_responses(401, 503),
)
async def list_models(services: ServicesDep) -> ModelsResponse:
    """Every loaded model version with its manifest (input size, labels, thresholds, block geometry, metrics).

    The entry with `default: true` answers requests that name no model.
    """
    services.require_ready()
    entries = [
        ModelEntry(name=m.key.name, version=m.key.version, default=m.is_default, manifest=m.manifest)
        for m in services.engine.models()
    ]
    return ModelsResponse(models=entries)
