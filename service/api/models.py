"""``GET /models``: the loaded model versions and their manifests."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import Authorized, Services, ServicesDep, key_security
from service.api.docs import error_responses
from service.schemas import ModelEntry, ModelsResponse, UnavailableModel

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
    """Every loaded model version with its manifest (input size, labels, thresholds, block geometry, metrics),
    and the versions in the store that could not be loaded, with why.

    The entry with `default: true` answers requests that name no model: the newest version of the default model
    that loaded (a broken new version leaves the previous one serving).
    """
    services.require_ready()
    return catalogue(services)


@router.post(
    "/models/reload",
    openapi_extra=key_security(),
    summary="Reload the model store",
    response_model=ModelsResponse,
    response_description="The models served after the reload.",
    responses=error_responses(401, 503),
)
async def reload_models(services: ServicesDep) -> ModelsResponse:
    """Scan the model store again, without a restart: versions added since start (or the last reload) are
    loaded, verified and warmed up before they are served, versions that failed to load are tried again, and
    versions whose folder is gone stop being served once their queued requests are done. Versions already
    loaded are kept as they are: publish a new version rather than overwriting one.

    Needs an API key when keys are on. Answers 503 when the store can no longer serve the default model (the
    models served before stay in service).
    """
    services.require_ready()
    await services.engine.reload()
    return catalogue(services)


def catalogue(services: Services) -> ModelsResponse:
    """The loaded versions and the unavailable ones."""
    entries = [
        ModelEntry(name=m.key.name, version=m.key.version, default=m.is_default, manifest=m.manifest)
        for m in services.engine.models()
    ]
    unavailable = [
        UnavailableModel(name=key.name, version=key.version, reason=reason)
        for key, reason in sorted(
            services.engine.unavailable().items(), key=lambda item: (item[0].name, item[0].version)
        )
    ]
    return ModelsResponse(models=entries, unavailable=unavailable)
