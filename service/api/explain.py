"""``GET /explain`` (the methods, their parameters and limits) and ``POST /explain/{method}`` (one image's map).

The method table lives in ``service/explain/registry.py``; this router only reads the request, checks it
against the table (422 naming what is accepted), queues the image in the model's explanation queue and encodes
the map like ``/visualbackprop`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from service.api.deps import Authorized, DeadlineDep, ExplainModelDep, ImageDep, ModelDep, ServicesDep, key_security
from service.api.docs import INFERENCE_ERRORS, MODEL_HEADERS, binary, error_responses, image_body
from service.api.explain_query import Plan, PlanDep, limits_of
from service.api.formats import choose_format
from service.api.inference import input_size, model_headers, model_ref, prediction
from service.api.maps import (
    MAP_MEDIA_TYPES,
    FormatQuery,
    OverlayQuery,
    SizeQuery,
    check_output_size,
    check_overlay,
    map_file,
    sized,
)
from service.engine.types import ExplainRequest, ExplainResult, ModelInfo
from service.errors import InvalidParameter
from service.explain.registry import describe_methods, params_key
from service.explain.targets import accepted_targets, default_target
from service.pipeline import encode
from service.pipeline.decode import DecodedImage
from service.schemas import ExplainResponse, MethodsResponse

router = APIRouter(tags=["explanations"], dependencies=[Authorized])


@dataclass(frozen=True)
class MapOptions:
    """How the client wants the map."""

    fmt: str
    size: str
    overlay: bool
    raw: bool

    def check(self) -> None:
        """422 for combinations that mean nothing."""
        check_overlay(self.overlay, self.fmt)
        if self.raw and self.fmt == "png":
            raise InvalidParameter(
                "raw=true returns the method's own (possibly signed) values: it needs format=npy or json",
                detail={"parameter": "raw", "accepted_formats": ["npy", "json"]},
            )


def render(options: MapOptions, plan: Plan, info: ModelInfo, decoded: DecodedImage, result: ExplainResult) -> bytes:
    """The map in the chosen format and size (runs in the thread pool)."""
    values = sized(result.raw if options.raw else result.display, options.size, decoded)
    if options.fmt != "json":
        return map_file(values, options.fmt, options.overlay, decoded)
    guess = prediction(info, result.probabilities)
    body: dict[str, Any] = {
        "model": model_ref(info),
        "method": plan.spec.name,
        "target": plan.target,
        "params": plan.params,
        "values": "raw" if options.raw else "display",
        "map": encode.array_json(values),
        "probabilities": guess.probabilities,
        "labels": guess.labels,
    }
    return ExplainResponse.model_validate(body).model_dump_json().encode()


@router.get(
    "/explain",
    openapi_extra=key_security(),
    summary="Explanation methods",
    response_model=MethodsResponse,
    responses=error_responses(401, 404, 422, 503),
)
async def list_methods(model: ModelDep, services: ServicesDep) -> MethodsResponse:
    """Every explanation method with its parameters, defaults and limits (from the settings), for one model.

    Also the accepted `target` values (each label, and `not_<label>` for its negated logit) and the device batch
    bound of expanding methods. `cam` is listed as not applicable, with the reason.
    """
    labels = [str(label) for label in model.manifest["labels"]]
    body = {
        "model": model_ref(model),
        "targets": accepted_targets(labels),
        "default_target": default_target(labels),
        "max_batch": services.engine.explain_max_batch,
        "methods": describe_methods(limits_of(services.settings, model)),
    }
    return MethodsResponse.model_validate(body)


RESPONSES = {
    200: {
        "model": ExplainResponse,
        "description": "The map: an 8-bit grayscale PNG (default), a heat-map overlay PNG, an NPY array, or JSON.",
        "headers": MODEL_HEADERS,
        "content": {
            **binary("image/png", "Grayscale display map (0 = no evidence, 255 = most), or the RGB overlay."),
            **binary("application/x-npy", "NumPy .npy: float32 H x W, the display map in [0, 1] or raw values."),
        },
    },
    **error_responses(*INFERENCE_ERRORS),
}


@router.post(
    "/explain/{method}",
    summary="Explanation map of one image",
    response_class=Response,
    response_description="The map in the chosen format.",
    responses=RESPONSES,
    openapi_extra=image_body(multiple=False) | key_security(),
)
async def explain(
    plan: PlanDep,
    model: ExplainModelDep,
    deadline: DeadlineDep,
    image: ImageDep,
    services: ServicesDep,
    fmt: FormatQuery = None,
    size: SizeQuery = "model",
    overlay: OverlayQuery = False,
    raw: Annotated[
        bool,
        Query(
            description="Return the method's own values instead of the [0, 1] display map (format=npy or json): "
            "signed for occlusion and integrated_gradients.",
            examples=[True],
        ),
    ] = False,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Which pixels the explained score depends on, by the chosen method; batched with other clients' requests.

    Methods (GET /explain has their parameters, defaults and limits): `visualbackprop` (activations only,
    class-agnostic, about the cost of one forward pass), `saliency` (vanilla gradient), `smoothgrad`,
    `guided_backprop`, `gradcam` (`layer`), `guided_gradcam`, `occlusion` (`window`, `stride`, `baseline`),
    `integrated_gradients` (`steps`, `baseline`). `cam` answers 422 `not_applicable`: CAM needs global average
    pooling right before the output layer; this network has global max-pooling and a hidden linear layer there.

    `target` picks the explained score: the road logit by default, `not_road` for its negation (the evidence for
    the other decision). Gradient requests from different clients share one backward pass; occlusion, SmoothGrad
    and integrated gradients pack their many forward passes into device batches of at most
    ROADLENS_EXPLAIN_MAX_BATCH. An unknown method answers 422 naming the known ones; a parameter the method
    does not take, or outside its range, answers 422 naming what is accepted.

    The display map is in [0, 1]: min-max scaled for unsigned methods; for signed ones (occlusion, integrated
    gradients) the positive part divided by its maximum. `raw=true` returns the method's own values.
    """
    options = MapOptions(choose_format(fmt, accept, MAP_MEDIA_TYPES, "png"), size, overlay, raw)
    options.check()
    check_output_size(image, size, services.settings.max_output_pixels)
    keep = overlay and size == "input"
    async with deadline.guard():
        [decoded] = await services.decoder.decode_all([image], input_size(model), keep)
        request = ExplainRequest(decoded.array, plan.spec.name, params_key(plan.params), plan.weights)
        [result] = await services.engine.explain(model.key, [request], deadline.at)
        body = await services.offload(render, options, plan, model, decoded, result)
    return Response(body, media_type=MAP_MEDIA_TYPES[options.fmt], headers=model_headers(model))
