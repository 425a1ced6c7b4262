"""What ``/visualbackprop`` and ``/explain/{method}`` share: one map per image, answered as a grayscale PNG,
a heat-map overlay PNG, an NPY array or JSON, at the model's size or the upload's."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from fastapi import Query

from service.errors import InvalidParameter
from service.pipeline import encode
from service.pipeline.decode import DecodedImage, header_size

MAP_MEDIA_TYPES = {"png": "image/png", "npy": "application/x-npy", "json": "application/json"}
MapFormat = Literal["png", "npy", "json"]
MapSize = Literal["model", "input"]

FormatQuery = Annotated[
    MapFormat | None,
    Query(
        alias="format",
        description="png (default), npy or json. Without it, the Accept header decides "
        "(image/png, application/x-npy, application/json).",
        examples=["npy"],
    ),
]
SizeQuery = Annotated[
    MapSize,
    Query(
        description="model: the model's input size (96 x 96); input: resized (bilinear) to the upload's size.",
        examples=["input"],
    ),
]
OverlayQuery = Annotated[
    bool,
    Query(description="Blend the map as a jet heat map (alpha 0.5) over the image (format=png).", examples=[True]),
]

# A map this small renders as PNG or NPY in under 0.1 ms (a 96 x 96 PNG: about 0.06 ms with ISA-L's deflate),
# no more than handing it to the thread pool and back costs the event loop. Measured on 2 cores at concurrency
# 32 (interleaved turns), when the PNG still took 0.16 ms with zlib: with uploads decoded in the threads, the
# loop served 451/456/452 req/s against 436/397/394 through the pool; with them decoded on the loop, 503
# against 497.
INLINE_MAX_PIXELS = 128 * 128


def check_overlay(overlay: bool, fmt: str) -> None:
    """422 when an overlay (a picture) is asked for in a format that is not a picture."""
    if overlay and fmt != "png":
        raise InvalidParameter(
            "overlay=true draws a picture: it needs format=png",
            detail={"parameter": "overlay", "accepted_formats": ["png"]},
        )


def check_output_size(image: bytes, size: str, limit: int) -> None:
    """422 when ``size=input`` asks for a map or overlay larger than ``limit`` pixels (read from the header, so
    that such a request costs no decoding)."""
    found = header_size(image) if size == "input" else None
    if found is None or found[0] * found[1] <= limit:
        return
    width, height = found
    raise InvalidParameter(
        f"size=input would return a {width}x{height} = {width * height} pixel map; the limit is {limit} pixels "
        "(ROADLENS_MAX_OUTPUT_PIXELS): use size=model, or send a smaller image",
        detail={
            "parameter": "size",
            "width": width,
            "height": height,
            "pixels": width * height,
            "limit_pixels": limit,
            "setting": "ROADLENS_MAX_OUTPUT_PIXELS",
            "accepted": ["model"],
        },
    )


def sized(values: np.ndarray, size: str, decoded: DecodedImage) -> np.ndarray:
    """The map at the size the client asked for (``input``: resized, bilinear, to the upload's size)."""
    return encode.resize_map(values, decoded.size) if size == "input" else values


def map_file(values: np.ndarray, fmt: str, overlay: bool, decoded: DecodedImage) -> bytes:
    """PNG (grayscale, or the overlay on the image) or NPY bytes of a map; JSON bodies are the caller's."""
    if fmt == "npy":
        return encode.npy_bytes(values)
    if overlay:
        base = decoded.original if decoded.original is not None else encode.model_input_image(decoded.array)
        return encode.overlay_png(base, values)
    return encode.mask_png(values)
