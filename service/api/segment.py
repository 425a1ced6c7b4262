"""``POST /segment``: the road mask of one image, from the classifier's own evidence (``explain/segmentation.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from service.api.deps import Authorized, DeadlineDep, ImageDep, ModelDep, Services, ServicesDep, key_security
from service.api.docs import INFERENCE_ERRORS, MODEL_HEADERS, binary, error_responses, image_body
from service.api.explain_query import limits_of
from service.api.formats import choose_format
from service.api.inference import Deadline, input_size, model_headers
from service.api.maps import INLINE_MAX_PIXELS, MAP_MEDIA_TYPES, FormatQuery, SizeQuery, check_overlay
from service.api.segment_render import Evidence, SegmentOptions, render
from service.engine.types import ExplainRequest, InferenceRequest, ModelInfo, VBPOptions
from service.errors import InferenceFailed, NotApplicable
from service.explain.registry import METHODS, params_key, resolve_params
from service.explain.segmentation import SegmentRule
from service.explain.targets import target_weights
from service.pipeline.decode import DecodedImage
from service.schemas import SegmentResponse

router = APIRouter(tags=["explanations"], dependencies=[Authorized])
ROAD = "road"


def rule_of(info: ModelInfo) -> SegmentRule:
    """The model's rule (its manifest's ``segmentation``, else the defaults); 422 for a model without a road label."""
    if ROAD not in info.manifest["labels"]:
        raise NotApplicable(
            f"segment needs a {ROAD!r} label; this model has {info.manifest['labels']}",
            detail={"labels": list(info.manifest["labels"])},
        )
    try:
        return SegmentRule.from_manifest(info.manifest)
    except ValueError as error:  # the artifact's fault, not the client's
        raise InferenceFailed(f"the model's segmentation rule is malformed: {error}") from error


async def evidence_of(
    services: Services, info: ModelInfo, rule: SegmentRule, image: bytes, deadline: Deadline, keep: bool
) -> tuple[DecodedImage, Evidence]:
    """Decode the image and get its map and probabilities from the engine: VisualBackProp rides on the batched
    forward pass of ``/predict``; any other method goes through the explanation queue."""
    [decoded] = await services.decoder.decode_all([image], input_size(info), keep)
    if rule.method == "visualbackprop":
        vbp = VBPOptions(normalize_overlap=rule.normalize_overlap)
        [result] = await services.engine.infer(info.key, [InferenceRequest(decoded.array, vbp=vbp)], deadline.at)
        assert result.vbp is not None  # asked for
        return decoded, Evidence(result.vbp.mask, result.probabilities)
    params = resolve_params(METHODS[rule.method], {}, limits_of(services.settings, info))
    weights = target_weights(ROAD, [str(label) for label in info.manifest["labels"]])
    request = ExplainRequest(decoded.array, rule.method, params_key(params), weights)
    [explained] = await services.engine.explain(info.key, [request], deadline.at)
    return decoded, Evidence(explained.display, explained.probabilities)


async def _render(
    services: Services,
    options: SegmentOptions,
    rule: SegmentRule,
    info: ModelInfo,
    decoded: DecodedImage,
    found: Evidence,
) -> bytes:
    """``render`` on the event loop for a plain mask at the model's size (a 96 x 96 tile: the rule and the PNG
    take about as long as the hop to the thread pool and back), in the pool for overlays and upload-sized masks."""
    if options.size == "model" and not options.overlay and found.map.size <= INLINE_MAX_PIXELS:
        return render(options, rule, info, decoded, found, ROAD)
    return await services.offload(render, options, rule, info, decoded, found, ROAD)


RESPONSES = {
    200: {
        "model": SegmentResponse,
        "description": "The road mask: an 8-bit PNG (0 / 255, default), the roads painted over the image, an NPY "
        "array, or JSON with the road's pieces and lengths.",
        "headers": MODEL_HEADERS,
        "content": {
            **binary("image/png", "Grayscale mask (255 = road, 0 = not), or the RGB overlay."),
            **binary("application/x-npy", "NumPy .npy: uint8 H x W, 1 = road."),
        },
    },
    **error_responses(*INFERENCE_ERRORS),
}


@router.post(
    "/segment",
    summary="Road mask of one image",
    response_class=Response,
    response_description="The mask in the chosen format.",
    responses=RESPONSES,
    openapi_extra=image_body(multiple=False) | key_security(),
)
async def segment(
    model: ModelDep,
    deadline: DeadlineDep,
    image: ImageDep,
    services: ServicesDep,
    fmt: FormatQuery = None,
    size: SizeQuery = "model",
    overlay: Annotated[
        bool, Query(description="Paint the road pixels red over the image (format=png).", examples=[True])
    ] = False,
    gsd_m: Annotated[
        float | None,
        Query(
            gt=0,
            le=100_000,
            description="Ground sample distance of the upload, metres per pixel: lengths are also given in metres "
            "(format=json).",
            examples=[3.0],
        ),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Which pixels are road, from the classifier's own evidence: weakly supervised, no pixel labels were trained.

    The model's evidence map (VisualBackProp, overlap-normalised, for the shipped model) marks where it saw the
    road; the light lines of the image inside that region are kept (a white top-hat, thresholded per tile by
    Otsu's method times a calibrated factor), and pieces shorter than a calibrated length are dropped. The
    numbers are calibrated per model on tiles with true masks and stored in its manifest (`rule` in the JSON says
    which). **Gated on the prediction**: a tile the model calls road-free gets an empty mask.

    `format=json` lists the connected pieces with their bounding box, pixel count and skeleton length, in pixels
    of the returned mask and, given `gsd_m` (metres per pixel of the upload), in metres. The mask is computed at
    the model's input size; `size=input` scales it to the upload (nearest neighbour: each model pixel a block).
    docs/explanations.md has its measured quality against true road masks.
    """
    options = SegmentOptions(choose_format(fmt, accept, MAP_MEDIA_TYPES, "png"), size, overlay, gsd_m)
    check_overlay(overlay, options.fmt)
    rule = rule_of(model)
    async with deadline.guard():
        decoded, found = await evidence_of(services, model, rule, image, deadline, overlay and size == "input")
        body = await _render(services, options, rule, model, decoded, found)
    return Response(body, media_type=MAP_MEDIA_TYPES[options.fmt], headers=model_headers(model))
