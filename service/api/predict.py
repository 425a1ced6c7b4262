"""``POST /predict``: road probabilities and labels for one or more images."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import Authorized, DeadlineDep, ForwardModelDep, ImagesDep, ServicesDep, key_security
from service.api.docs import INFERENCE_ERRORS, error_responses, image_body
from service.api.inference import model_ref, prediction, run_inference
from service.engine.types import InferenceRequest
from service.schemas import PredictResponse

router = APIRouter(tags=["inference"], dependencies=[Authorized])


@router.post(
    "/predict",
    summary="Classify images",
    response_model=PredictResponse,
    response_description="One prediction per image, in upload order.",
    responses=error_responses(*INFERENCE_ERRORS),
    openapi_extra=image_body(multiple=True) | key_security(),
)
async def predict(
    model: ForwardModelDep, deadline: DeadlineDep, images: ImagesDep, services: ServicesDep
) -> PredictResponse:
    """Probability of every label for each uploaded image, and the labels at or above the model's thresholds.

    Images from all clients are batched on the device; several images in one request stay together.
    Pick another model or version with the `model` and `version` query parameters.
    """
    async with deadline.guard():
        _, results = await run_inference(services, model, deadline, images, lambda d: InferenceRequest(d.array))
    return PredictResponse(model=model_ref(model), predictions=[prediction(model, r.probabilities) for r in results])
