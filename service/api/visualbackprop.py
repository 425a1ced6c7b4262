"""``POST /visualbackprop``: the VisualBackProp mask of one image (Bojarski et al., 2016)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from service.api.deps import (
    Authorized,
    DeadlineDep,
    ForwardModelDep,
    ImageDep,
    Services,
    ServicesDep,
    key_security,
)
from service.api.docs import INFERENCE_ERRORS, MODEL_HEADERS, binary, error_responses, image_body
from service.api.formats import choose_format
from service.api.inference import model_headers, model_ref, prediction, run_inference
from service.api.maps import (
    INLINE_MAX_PIXELS,
    MAP_MEDIA_TYPES,
    FormatQuery,
    OverlayQuery,
    SizeQuery,
    check_output_size,
    check_overlay,
    map_file,
    sized,
)
from service.engine.types import InferenceRequest, InferenceResult, ModelInfo, VBPOptions
from service.errors import InvalidParameter
from service.pipeline import encode
from service.pipeline.decode import DecodedImage
from service.schemas import VBPResponse

router = APIRouter(tags=["explanations"], dependencies=[Authorized])


@dataclass(frozen=True)
class MaskOptions:
    """How the client wants the mask."""

    fmt: str
    size: str
    overlay: bool
    layers: bool

    def check(self) -> None:
        """422 for combinations that mean nothing."""
        check_overlay(self.overlay, self.fmt)
        if self.layers and self.fmt != "json":
            raise InvalidParameter(
                "layers=true returns every level's maps: it needs format=json",
                detail={"parameter": "layers", "accepted_formats": ["json"]},
            )


def render(options: MaskOptions, info: ModelInfo, decoded: DecodedImage, result: InferenceResult) -> bytes:
    """The mask in the chosen format and size (see ``_render`` for where it runs)."""
    assert result.vbp is not None  # the request asked for it
    mask = sized(result.vbp.mask, options.size, decoded)
    if options.fmt != "json":
        return map_file(mask, options.fmt, options.overlay, decoded)
    return _json(info, result, mask, options.layers)


async def _render(
    services: Services, options: MaskOptions, info: ModelInfo, decoded: DecodedImage, result: InferenceResult
) -> bytes:
    """``render`` on the event loop for a small plain map, in the thread pool for anything larger or heavier."""
    assert result.vbp is not None
    small = options.size == "model" and result.vbp.mask.size <= INLINE_MAX_PIXELS
    if small and options.fmt in ("png", "npy") and not options.overlay:
        return render(options, info, decoded, result)
    return await services.offload(render, options, info, decoded, result)


def _json(info: ModelInfo, result: InferenceResult, mask: Any, with_layers: bool) -> bytes:
    assert result.vbp is not None
    guess = prediction(info, result.probabilities)
    layers = [
        {"name": level.name, "averaged": encode.array_json(level.averaged), "mask": encode.array_json(level.mask)}
        for level in result.vbp.layers
    ]
    body = {
        "model": model_ref(info),
        "mask": encode.array_json(mask),
        "probabilities": guess.probabilities,
        "labels": guess.labels,
        "layers": layers if with_layers else None,
    }
    return VBPResponse.model_validate(body).model_dump_json(exclude_none=True).encode()


RESPONSES = {
    200: {
        "model": VBPResponse,
        "description": "The mask: an 8-bit grayscale PNG (default), a heat-map overlay PNG, an NPY array, or JSON.",
        "headers": MODEL_HEADERS,
        "content": {
            **binary("image/png", "Grayscale mask (0 = no influence, 255 = most), or the RGB overlay."),
            **binary("application/x-npy", "NumPy .npy: float32 H x W in [0, 1]."),
        },
    },
    **error_responses(*INFERENCE_ERRORS),
}


@router.post(
    "/visualbackprop",
    summary="VisualBackProp mask",
    response_class=Response,
    response_description="The mask in the chosen format.",
    responses=RESPONSES,
    openapi_extra=image_body(multiple=False) | key_security(),
)
async def visualbackprop(
    model: ForwardModelDep,
    deadline: DeadlineDep,
    image: ImageDep,
    services: ServicesDep,
    fmt: FormatQuery = None,
    size: SizeQuery = "model",
    overlay: OverlayQuery = False,
    normalize_overlap: Annotated[
        bool,
        Query(description="Divide each upsampling by its overlap count: no checkerboard artifacts.", examples=[True]),
    ] = False,
    layers: Annotated[
        bool,
        Query(
            description="Also return every level's averaged map and intermediate mask (format=json).", examples=[True]
        ),
    ] = False,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Which pixels drive the network's activations: the VisualBackProp mask, float in [0, 1].

    Method: each conv block's post-ReLU maps are averaged over channels; from the deepest block up, the mask
    is upsampled with an all-ones transposed convolution of the block's geometry and multiplied by the next
    shallower averaged map; the result is min-max normalised. One forward pass, no gradients, batched with
    other requests. **Class-agnostic**: the mask shows what the network attends to, not evidence for or
    against a particular label, so it is the same whatever label you are interested in.

    `normalize_overlap=true` divides every upsampled map by the overlap count of its transposed convolution,
    removing the checkerboard texture that 3x3/stride-2 upsampling leaves in the faithful mask (the default).
    """
    options = MaskOptions(choose_format(fmt, accept, MAP_MEDIA_TYPES, "png"), size, overlay, layers)
    options.check()
    check_output_size(image, size, services.settings.max_output_pixels)
    vbp = VBPOptions(normalize_overlap=normalize_overlap, keep_layers=layers)
    keep = overlay and size == "input"
    async with deadline.guard():
        [decoded], [result] = await run_inference(
            services, model, deadline, [image], lambda d: InferenceRequest(d.array, vbp=vbp), keep_original=keep
        )
        body = await _render(services, options, model, decoded, result)
    return Response(body, media_type=MAP_MEDIA_TYPES[options.fmt], headers=model_headers(model))
