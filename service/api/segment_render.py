"""``POST /segment``'s answer, from the evidence to bytes (in the image thread pool): gate, cut the mask, size it,
encode it as PNG, NPY, an overlay or JSON with the road's pieces and lengths."""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from service.api.inference import model_ref, prediction
from service.engine.types import ModelInfo
from service.explain.roads import label_pieces, piece_lengths, skeletonize
from service.explain.segmentation import SegmentRule, road_mask
from service.pipeline import encode
from service.pipeline.decode import DecodedImage
from service.schemas import SegmentResponse

ROAD_COLOUR = np.array([255, 48, 48], dtype=np.uint16)  # the overlay's road pixels, 3/4 opaque


@dataclass(frozen=True)
class SegmentOptions:
    """How the client wants the mask: format, size, overlay, and the upload's ground sample distance."""

    fmt: str
    size: str
    overlay: bool
    gsd_m: float | None


@dataclass(frozen=True)
class Evidence:
    """What the engine returned for the image: the method's display map and the model's probabilities."""

    map: np.ndarray
    probabilities: np.ndarray


def is_road(info: ModelInfo, probabilities: np.ndarray, label: str) -> bool:
    """The gate: the label's probability at or above the manifest's threshold."""
    return label in prediction(info, probabilities).labels


def render(
    options: SegmentOptions, rule: SegmentRule, info: ModelInfo, decoded: DecodedImage, found: Evidence, label: str
) -> bytes:
    """The answer's bytes (see the module docstring)."""
    road = is_road(info, found.probabilities, label)
    mask = road_mask(found.map, decoded.unit_float(), rule) if road else np.zeros(found.map.shape, dtype=bool)
    shown = mask if options.size == "model" else upscale(mask, decoded.size)
    if options.fmt == "npy":
        return _npy_uint8(shown)
    if options.fmt == "png":
        return _overlay(shown, decoded) if options.overlay else encode.gray_png(shown.view(np.uint8) * np.uint8(255))
    return _json(options, rule, info, decoded, found, road, mask, shown)


def upscale(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The model-size mask at ``size`` = (width, height), nearest neighbour: each model pixel a block."""
    return nearest(mask.view(np.uint8), size).astype(bool)


def nearest(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An H x W integer array resized to ``size`` = (width, height) by nearest neighbour (pixel centres)."""
    height, width = values.shape
    rows = ((np.arange(size[1]) + 0.5) * (height / size[1])).astype(np.intp)
    columns = ((np.arange(size[0]) + 0.5) * (width / size[0])).astype(np.intp)
    return values[np.minimum(rows, height - 1)[:, None], np.minimum(columns, width - 1)[None, :]]


def _npy_uint8(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, mask.astype(np.uint8), allow_pickle=False)
    return buffer.getvalue()


def _overlay(mask: np.ndarray, decoded: DecodedImage) -> bytes:
    """The road pixels painted over the image (the upload at its size, or the model input)."""
    base = decoded.original if decoded.original is not None else encode.model_input_image(decoded.array)
    rgb = np.array(base.convert("RGB"), dtype=np.uint16)
    rgb[mask] = (rgb[mask] + 3 * ROAD_COLOUR) // 4
    return encode.png_bytes(Image.fromarray(rgb.astype(np.uint8)))


def _uint8_json(mask: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(mask, dtype=np.uint8)
    return {"shape": list(data.shape), "dtype": "uint8", "data": base64.b64encode(data.tobytes()).decode("ascii")}


def _json(
    options: SegmentOptions,
    rule: SegmentRule,
    info: ModelInfo,
    decoded: DecodedImage,
    found: Evidence,
    road: bool,
    mask: np.ndarray,
    shown: np.ndarray,
) -> bytes:
    """JSON: the mask, its pieces with boxes, pixel counts and skeleton lengths (metres given ``gsd_m``)."""
    height, width = mask.shape
    upload = (decoded.size[1] / height, decoded.size[0] / width)  # (row, column) model pixel -> upload pixels
    out = upload if options.size == "input" else (1.0, 1.0)
    pieces = road_pieces(mask, shown, out, upload, options.gsd_m)
    guess = prediction(info, found.probabilities)
    gsd = options.gsd_m
    body = {
        "model": model_ref(info),
        "road": road,
        "probabilities": guess.probabilities,
        "labels": guess.labels,
        "rule": rule.to_manifest(),
        "mask": _uint8_json(shown),
        "road_pixels": int(shown.sum()),
        "length_px": sum(p["length_px"] for p in pieces),
        "gsd_m": gsd,
        "length_m": None if gsd is None else sum(p["length_m"] for p in pieces),
        "pieces": pieces,
    }
    return SegmentResponse.model_validate(body).model_dump_json(exclude_none=True).encode()


def road_pieces(
    mask: np.ndarray,
    shown: np.ndarray,
    out: tuple[float, float],
    upload: tuple[float, float],
    gsd_m: float | None,
) -> list[dict[str, Any]]:
    """Each piece of the model-size ``mask``: box and pixels in ``shown`` (the returned mask), skeleton length in
    its pixels (``out``: the size of one model pixel there) and in metres of the upload (``upload`` x ``gsd_m``)."""
    labels, count = label_pieces(mask)
    if count == 0:
        return []
    skeleton = skeletonize(mask)
    lengths = piece_lengths(labels, count, skeleton, out)
    metres = piece_lengths(labels, count, skeleton, (upload[0] * gsd_m, upload[1] * gsd_m)) if gsd_m else None
    shown_labels = labels if shown.shape == mask.shape else nearest(labels, (shown.shape[1], shown.shape[0]))
    pixels = np.bincount(shown_labels.ravel(), minlength=count + 1)[1:]
    pieces = []
    for index, (rows, columns) in enumerate(ndimage.find_objects(labels)):
        box = [
            math.floor(columns.start * out[1]),
            math.floor(rows.start * out[0]),
            math.ceil(columns.stop * out[1]),
            math.ceil(rows.stop * out[0]),
        ]
        piece = {"box": box, "pixels": int(pixels[index]), "length_px": round(float(lengths[index]), 3)}
        if metres is not None:
            piece["length_m"] = round(float(metres[index]), 3)
        pieces.append(piece)
    return sorted(pieces, key=lambda p: -p["length_px"])
