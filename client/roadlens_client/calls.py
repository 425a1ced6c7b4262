"""What each endpoint call sends and how its answer is read, shared by the sync and the async client.

A ``Call`` is plain data (method, path, query, multipart files) plus the function that turns a successful
response into a typed result. The two clients only differ in how they send it and how they wait between
retries, so every endpoint is described once, here.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import httpx
import numpy as np
from PIL import Image
from pydantic import BaseModel

from roadlens_client.errors import APIError, api_error
from roadlens_client.models import (
    ClassModel,
    Explanation,
    FeatureMaps,
    Health,
    MethodCatalog,
    ModelInfo,
    ModelRef,
    Picture,
    PredictResult,
    Readiness,
    Segmentation,
    VBPResult,
)
from roadlens_client.retry import parse_retry_after

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
ImageInput = str | os.PathLike[str] | bytes | Image.Image | np.ndarray
Size = Literal["model", "input"]
ParamValue = str | int | float | bool
FILE_FIELD = "file"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP exchange: what to send and how to read a successful answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, tuple[str, bytes, str]]] = field(default_factory=list)

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        """The ``httpx.Request``, built afresh for every attempt (multipart bodies are single-use streams)."""
        return http.build_request(self.method, self.path, params=self.params, files=self.files or None)


def image_bytes(image: ImageInput) -> tuple[str, bytes]:
    """A file name and the bytes to upload: files are sent as they are, pictures and arrays as PNG."""
    if isinstance(image, bytes):
        return "image", image
    if isinstance(image, str | os.PathLike):
        path = Path(image)
        return path.name, path.read_bytes()
    picture = image if isinstance(image, Image.Image) else Image.fromarray(_as_uint8(image))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "image.png", buffer.getvalue()


def _as_uint8(array: np.ndarray) -> np.ndarray:
    """An H x W (x 3) array as bytes: floats are read as [0, 1] values."""
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    raise TypeError(f"image arrays must be uint8 or float in [0, 1], not {array.dtype}")


def uploads(images: Sequence[ImageInput]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """Multipart ``file`` parts, one per image, in order (the server sniffs each format from the bytes)."""
    return [(FILE_FIELD, (*image_bytes(image), "application/octet-stream")) for image in images]


def query(**values: ParamValue | None) -> dict[str, str]:
    """Query parameters without the unset ones; booleans as ``true`` / ``false``."""
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in values.items() if v is not None}


def json_of(schema: type[M]) -> Callable[[httpx.Response], M]:
    """A parser validating the JSON body against ``schema``."""
    return lambda response: schema.model_validate(response.json())


def answering_model(response: httpx.Response) -> ModelRef | None:
    """The model named by a binary answer's ``X-Model-Name`` / ``X-Model-Version`` headers."""
    name, version = response.headers.get("x-model-name"), response.headers.get("x-model-version")
    if name is None or version is None or not version.isdigit():
        return None
    return ModelRef(name=name, version=int(version))


def picture(response: httpx.Response) -> Picture:
    """A PNG answer."""
    return Picture(png=response.content, model=answering_model(response))


def feature_arrays(response: httpx.Response) -> FeatureMaps:
    """An NPZ answer: one array per layer."""
    with np.load(io.BytesIO(response.content), allow_pickle=False) as archive:
        maps = {name: archive[name] for name in archive.files}
    return FeatureMaps(model=answering_model(response), maps=maps)


def error_of(response: httpx.Response) -> APIError:
    """The exception for an error answer, from the uniform body ``{"error": {"code", "message", "detail"}}``."""
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    try:
        body: Any = response.json()
        error = body["error"]
        code, message = str(error["code"]), str(error["message"])
        detail = error.get("detail") if isinstance(error.get("detail"), dict) else {}
    except (ValueError, KeyError, TypeError):  # not our error body: a proxy, or a server from before this shape
        code, message, detail = f"http_{response.status_code}", response.text[:200] or response.reason_phrase, {}
    return api_error(response.status_code, code, message, detail, retry_after)


def model_query(model: str | None, version: int | None) -> dict[str, str]:
    """The ``model`` / ``version`` query parameters every inference endpoint accepts."""
    return query(model=model, version=version)


def predict(images: Sequence[ImageInput], model: str | None = None, version: int | None = None) -> Call[PredictResult]:
    """``POST /predict`` with every image in one request."""
    return Call("POST", "/predict", json_of(PredictResult), model_query(model, version), uploads(images))


def feature_maps(
    image: ImageInput, layers: Sequence[str] | None, model: str | None, version: int | None
) -> Call[FeatureMaps]:
    """``POST /features`` as NPZ: one float32 array per layer."""
    params = model_query(model, version) | query(format="npz", layers=_names(layers))
    return Call("POST", "/features", feature_arrays, params, uploads([image]))


def feature_grid(
    image: ImageInput, layers: Sequence[str] | None, model: str | None, version: int | None
) -> Call[Picture]:
    """``POST /features`` as PNG: per layer, a grid of its channels."""
    params = model_query(model, version) | query(format="png", layers=_names(layers))
    return Call("POST", "/features", picture, params, uploads([image]))


def _names(layers: Sequence[str] | None) -> str | None:
    if isinstance(layers, str):  # one name given where a list was expected
        return layers
    return ",".join(layers) if layers else None


def visualbackprop(
    image: ImageInput, normalize_overlap: bool, size: Size, layers: bool, model: str | None, version: int | None
) -> Call[VBPResult]:
    """``POST /visualbackprop`` as JSON: the mask as an array, the probabilities, optionally every level."""
    params = model_query(model, version) | query(
        format="json", size=size, normalize_overlap=normalize_overlap, layers=layers or None
    )
    return Call("POST", "/visualbackprop", json_of(VBPResult), params, uploads([image]))


def visualbackprop_picture(
    image: ImageInput, overlay: bool, normalize_overlap: bool, size: Size, model: str | None, version: int | None
) -> Call[Picture]:
    """``POST /visualbackprop`` as PNG: the grayscale mask or the heat-map overlay."""
    params = model_query(model, version) | query(
        format="png", size=size, overlay=overlay, normalize_overlap=normalize_overlap
    )
    return Call("POST", "/visualbackprop", picture, params, uploads([image]))


def explanation(
    method: str,
    image: ImageInput,
    target: str | None,
    size: Size,
    raw: bool,
    model: str | None,
    version: int | None,
    params: Mapping[str, ParamValue],
) -> Call[Explanation]:
    """``POST /explain/{method}`` as JSON: the map as an array; ``params`` are the method's own parameters."""
    options = query(**params) | model_query(model, version)
    options |= query(format="json", target=target, size=size, raw=raw or None)
    return Call("POST", f"/explain/{method}", json_of(Explanation), options, uploads([image]))


def explanation_picture(
    method: str,
    image: ImageInput,
    overlay: bool,
    target: str | None,
    size: Size,
    model: str | None,
    version: int | None,
    params: Mapping[str, ParamValue],
) -> Call[Picture]:
    """``POST /explain/{method}`` as PNG: the map, or with ``overlay`` the heat map over the image."""
    options = query(**params) | model_query(model, version)
    options |= query(format="png", target=target, size=size, overlay=overlay)
    return Call("POST", f"/explain/{method}", picture, options, uploads([image]))


def segmentation(
    image: ImageInput, size: Size, gsd_m: float | None, model: str | None, version: int | None
) -> Call[Segmentation]:
    """``POST /segment`` as JSON: the road mask as an array, its pieces and lengths (metres given ``gsd_m``)."""
    params = model_query(model, version) | query(format="json", size=size, gsd_m=gsd_m)
    return Call("POST", "/segment", json_of(Segmentation), params, uploads([image]))


def segmentation_picture(
    image: ImageInput, overlay: bool, size: Size, model: str | None, version: int | None
) -> Call[Picture]:
    """``POST /segment`` as PNG: the 0 / 255 mask, or with ``overlay`` the roads painted over the image."""
    params = model_query(model, version) | query(format="png", size=size, overlay=overlay)
    return Call("POST", "/segment", picture, params, uploads([image]))


def class_model_query(
    target: str | None,
    steps: int | None,
    seed: int | None,
    layer: str | None,
    channel: int | None,
    model: str | None,
    version: int | None,
) -> dict[str, str]:
    """The query of ``GET /class-model`` (unset values left to the server's defaults)."""
    return model_query(model, version) | query(target=target, steps=steps, seed=seed, layer=layer, channel=channel)


def class_model(
    target: str | None,
    steps: int | None,
    seed: int | None,
    layer: str | None,
    channel: int | None,
    model: str | None,
    version: int | None,
) -> Call[ClassModel]:
    """``GET /class-model`` as JSON: the image as an array, with the model's probabilities for it."""
    params = class_model_query(target, steps, seed, layer, channel, model, version) | query(format="json")
    return Call("GET", "/class-model", json_of(ClassModel), params)


def class_model_picture(
    target: str | None,
    steps: int | None,
    seed: int | None,
    layer: str | None,
    channel: int | None,
    model: str | None,
    version: int | None,
) -> Call[Picture]:
    """``GET /class-model`` as an 8-bit RGB PNG."""
    params = class_model_query(target, steps, seed, layer, channel, model, version) | query(format="png")
    return Call("GET", "/class-model", picture, params)


def methods(model: str | None, version: int | None) -> Call[MethodCatalog]:
    """``GET /explain``: the explanation methods, their parameters and limits, and the accepted targets."""
    return Call("GET", "/explain", json_of(MethodCatalog), model_query(model, version))


def models() -> Call[list[ModelInfo]]:
    """``GET /models``."""
    return Call("GET", "/models", lambda r: [ModelInfo.model_validate(m) for m in r.json()["models"]])


def health() -> Call[Health]:
    """``GET /healthz``."""
    return Call("GET", "/healthz", json_of(Health))


def readiness() -> Call[Readiness]:
    """``GET /readyz``."""
    return Call("GET", "/readyz", json_of(Readiness))
