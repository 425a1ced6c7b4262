"""``GET /class-model``: the image the model scores highest for a target (``explain/class_model.py``)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Header, Query, Response
from PIL import Image

from service.api.deps import Authorized, DeadlineDep, ModelDep, ServicesDep, key_security
from service.api.docs import MODEL_HEADERS, binary, error_responses
from service.api.formats import choose_format
from service.api.inference import model_headers, model_ref, prediction
from service.api.maps import MAP_MEDIA_TYPES, MapFormat
from service.engine.types import ClassModelRequest, ClassModelResult, ModelInfo
from service.errors import InvalidParameter
from service.explain.targets import default_target, target_weights
from service.pipeline import encode
from service.schemas import ClassModelResponse

router = APIRouter(tags=["explanations"], dependencies=[Authorized])
DEFAULT_STEPS = ClassModelRequest().steps
MAX_STEPS = 500  # a bound on the device time one request can ask for (422 beyond)
SEED_MAX = 2**31 - 1


def class_model_request(
    info: ModelInfo, target: str | None, steps: int, seed: int, layer: str | None, channel: int | None
) -> ClassModelRequest:
    """The engine's request; 422 when a channel comes without its layer, or a target with a layer."""
    labels = [str(label) for label in info.manifest["labels"]]
    if (layer is None) != (channel is None):
        raise InvalidParameter(
            "layer and channel go together: a conv block and one of its channels",
            detail={"parameter": "channel" if layer is None else "layer"},
        )
    if layer is not None and target is not None:
        raise InvalidParameter(
            "target is the raised score unless a layer's channel is raised: give one or the other",
            detail={"parameter": "target"},
        )
    weights = target_weights(target, labels) if layer is None else tuple(0.0 for _ in labels)
    return ClassModelRequest(weights, steps, seed, layer, channel)


def render(
    fmt: str, info: ModelInfo, request: ClassModelRequest, target: str | None, result: ClassModelResult
) -> bytes:
    """The image as PNG (8-bit RGB), NPY (float32 H x W x 3) or JSON with its scores."""
    picture = np.ascontiguousarray(result.image.transpose(1, 2, 0), dtype=np.float32)
    if fmt == "npy":
        return encode.npy_bytes(picture)
    if fmt == "png":
        return encode.png_bytes(Image.fromarray(encode.to_uint8(picture)))
    guess = prediction(info, result.probabilities)
    body = {
        "model": model_ref(info),
        "target": target,
        "layer": request.layer,
        "channel": request.channel,
        "steps": result.steps,
        "seed": request.seed,
        "objective": result.objective,
        "probabilities": guess.probabilities,
        "labels": guess.labels,
        "image": encode.array_json(picture),
        "compute_ms": result.compute_ms,
    }
    return ClassModelResponse.model_validate(body).model_dump_json().encode()


RESPONSES = {
    200: {
        "model": ClassModelResponse,
        "description": "The image: an 8-bit RGB PNG (default), an NPY array, or JSON with the model's scores.",
        "headers": MODEL_HEADERS,
        "content": {
            **binary("image/png", "RGB picture at the model's input size."),
            **binary("application/x-npy", "NumPy .npy: float32 H x W x 3, RGB in [0, 1]."),
        },
    },
    **error_responses(401, 404, 422, 503, 504),
}


@router.get(
    "/class-model",
    summary="What the model takes for a class",
    response_class=Response,
    response_description="The image in the chosen format.",
    responses=RESPONSES,
    openapi_extra=key_security(),
)
async def class_model(
    model: ModelDep,
    deadline: DeadlineDep,
    services: ServicesDep,
    target: Annotated[
        str | None,
        Query(
            description="The raised score: a label (default: road) or not_<label> for the opposite decision (the "
            "negated logit). GET /explain lists the accepted values.",
            examples=["not_road"],
        ),
    ] = None,
    steps: Annotated[
        int, Query(ge=1, le=MAX_STEPS, description=f"Gradient-ascent steps (at most {MAX_STEPS}).", examples=[200])
    ] = DEFAULT_STEPS,
    seed: Annotated[
        int,
        Query(
            ge=0, le=SEED_MAX, description="Seed of the starting image: the same seed, the same image.", examples=[7]
        ),
    ] = 0,
    layer: Annotated[
        str | None,
        Query(
            description="Raise one channel of this conv block instead of a target (GET /models lists them).",
            examples=["block2"],
        ),
    ] = None,
    channel: Annotated[
        int | None, Query(ge=0, description="The channel of `layer` to raise (its mean activation).", examples=[5])
    ] = None,
    fmt: Annotated[
        MapFormat | None,
        Query(
            alias="format",
            description="png (default), npy or json. Without it, the Accept header decides (image/png, "
            "application/x-npy, application/json).",
            examples=["json"],
        ),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """The image the model scores highest for a target: class-model visualisation (Simonyan et al., 2013).

    Gradient ascent on the input for the target's score minus an L2 penalty on the distance from the training mean
    colour, with the regularisers of Yosinski et al. (2015) that make it readable: random jitter of up to 8 pixels,
    a Gaussian blur every 4 steps, and clipping of the pixels with the smallest contribution. Made on the engine's
    device, in slices of steps between other batches; the same model version, target, steps and seed give the
    same image, cached after the first request. At the default steps the shipped model scores the image road
    >= 0.99 for `road` and <= 0.01 for `not_road` (the JSON's `probabilities`; the PNG scores the same through
    POST /predict). With `layer` and `channel`, the mean activation of that channel is raised instead.
    """
    chosen = choose_format(fmt, accept, MAP_MEDIA_TYPES, "png")
    request = class_model_request(model, target, steps, seed, layer, channel)
    async with deadline.guard():
        result = await services.engine.class_model(model.key, request)
        body = await services.offload(render, chosen, model, request, _target_name(model, target, layer), result)
    return Response(body, media_type=MAP_MEDIA_TYPES[chosen], headers=model_headers(model))


def _target_name(info: ModelInfo, target: str | None, layer: str | None) -> str | None:
    """The target the answer names: the one given, the model's default, or none for a channel."""
    if layer is not None:
        return None
    return target or default_target([str(label) for label in info.manifest["labels"]])
