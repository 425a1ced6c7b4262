"""``GET /metrics``: Prometheus text exposition."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import MetricsAuthorized, ServicesDep, key_security
from service.api.docs import error_responses

router = APIRouter(tags=["observability"], dependencies=[MetricsAuthorized])

METRICS_PATH = "/metrics"


@router.get(
    METRICS_PATH,
    # Public unless keys are on and ROADLENS_METRICS_PUBLIC is false: the empty requirement says "no key" is enough.
    openapi_extra={"security": [{}, *key_security()["security"]]},
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format."},
        **error_responses(401),
    },
)
async def metrics(services: ServicesDep) -> Response:
    """HTTP requests by route template and status, latency histograms, queue depth, batch sizes, items vs batches
    (`roadlens_inference_items_total / roadlens_inference_batches_total` is the mean batch size), rejections.

    Needs an API key only when keys are on and ROADLENS_METRICS_PUBLIC is false.
    """
    body, content_type = services.metrics.exposition()
    return Response(body, media_type=content_type)
