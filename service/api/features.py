"""``POST /features``: every conv block's post-ReLU feature maps for one image."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Header, Query, Response

from service.api.deps import Authorized, DeadlineDep, ForwardModelDep, ImageDep, ServicesDep, key_security
from service.api.docs import INFERENCE_ERRORS, MODEL_HEADERS, binary, error_responses, image_body
from service.api.formats import choose_format
from service.api.inference import model_headers, model_ref, parse_layers, run_inference
from service.engine.types import InferenceRequest, ModelInfo
from service.pipeline import encode
from service.schemas import FeaturesResponse

router = APIRouter(tags=["explanations"], dependencies=[Authorized])

MEDIA_TYPES = {"png": "image/png", "npz": "application/x-npz", "json": "application/json"}
FeatureFormat = Literal["png", "npz", "json"]


def render(fmt: str, info: ModelInfo, maps: dict[str, np.ndarray]) -> bytes:
    """The maps in the chosen format (runs in the thread pool)."""
    if fmt == "png":
        return encode.feature_grid_png(maps)
    if fmt == "npz":
        return encode.npz_bytes(maps)
    arrays = {name: encode.array_json(array) for name, array in maps.items()}
    return FeaturesResponse.model_validate({"model": model_ref(info), "features": arrays}).model_dump_json().encode()


RESPONSES = {
    200: {
        "model": FeaturesResponse,
        "description": "The maps: a PNG grid (default), an NPZ archive, or JSON.",
        "headers": MODEL_HEADERS,
        "content": {
            **binary("image/png", "Per layer: its name and shape, then a grid of its channels, each min-max scaled."),
            **binary("application/x-npz", "NumPy .npz: one float32 C x H x W array per layer, keyed by layer name."),
        },
    },
    **error_responses(*INFERENCE_ERRORS),
}


@router.post(
    "/features",
    summary="Feature maps of the conv blocks",
    response_class=Response,
    response_description="The feature maps in the chosen format.",
    responses=RESPONSES,
    openapi_extra=image_body(multiple=False) | key_security(),
)
async def features(
    model: ForwardModelDep,
    deadline: DeadlineDep,
    image: ImageDep,
    services: ServicesDep,
    fmt: Annotated[
        FeatureFormat | None,
        Query(
            alias="format",
            description="png (default), npz or json. Without it, the Accept header decides "
            "(image/png, application/x-npz, application/json).",
            examples=["npz"],
        ),
    ] = None,
    layers: Annotated[
        str | None,
        Query(
            description="Comma-separated block names (see GET /models); default: every block.",
            examples=["block1,block3"],
        ),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """The post-ReLU output of every conv block (or of those named in `layers`) for one image.

    `format=png`: one picture, per layer its name and a grid of its channels, each channel min-max scaled on
    its own (small maps enlarged). `format=npz`: float32 C x H x W arrays keyed by layer name.
    `format=json`: the same arrays as `{"shape", "dtype", "data"}` with base64 little-endian float32 data.
    """
    chosen = choose_format(fmt, accept, MEDIA_TYPES, "png")
    names = parse_layers(layers, model)
    async with deadline.guard():
        _, [result] = await run_inference(
            services, model, deadline, [image], lambda d: InferenceRequest(d.array, features=names)
        )
        body = await services.offload(render, chosen, model, result.features)
    return Response(body, media_type=MEDIA_TYPES[chosen], headers=model_headers(model))
