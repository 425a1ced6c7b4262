"""Typed results: what each call returns, with arrays as numpy and pictures as PNG bytes (or Pillow images).

JSON arrays arrive as ``{"shape", "dtype", "data"}`` (base64 of little-endian bytes) and are decoded into
``numpy.ndarray`` fields when a model is validated, so results are ready to use.
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

# Only plain numeric arrays are accepted from the wire: an object dtype would need pickle.
NUMERIC_KINDS = "biuf"


def decode_array(value: Any) -> Any:
    """``{"shape", "dtype", "data"}`` -> ``numpy.ndarray`` (native byte order); arrays pass through."""
    if isinstance(value, np.ndarray) or not isinstance(value, dict):
        return value
    try:
        dtype = np.dtype(str(value["dtype"])).newbyteorder("<")
        shape = tuple(int(n) for n in value["shape"])
        raw = base64.b64decode(value["data"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise ValueError(f"not an encoded array: {error}") from error
    if dtype.kind not in NUMERIC_KINDS:
        raise ValueError(f"unsupported array dtype {value['dtype']!r}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


Array = Annotated[np.ndarray, BeforeValidator(decode_array)]


class Result(BaseModel):
    """Base of every result: immutable; tolerant of fields a newer server adds."""

    model_config = ConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True, protected_namespaces=())


class ModelRef(Result):
    """Which model answered."""

    name: str
    version: int


class Prediction(Result):
    """One image's probability per label, and the labels at or above the model's thresholds."""

    probabilities: dict[str, float]
    labels: list[str]

    @property
    def probability(self) -> float:
        """The probability of the model's first label (``road`` for the shipped model)."""
        return next(iter(self.probabilities.values()))

    @property
    def label(self) -> str:
        """The first label's name (``road``), or ``no_<label>`` when it is under its threshold."""
        first = next(iter(self.probabilities))
        return first if first in self.labels else f"no_{first}"


class PredictResult(Result):
    """One prediction per image, in upload order."""

    model: ModelRef
    predictions: list[Prediction]


class FeatureMaps(Result):
    """Every requested conv block's post-ReLU maps, ``C x H x W`` float32, keyed by block name."""

    model: ModelRef | None = None
    maps: dict[str, Array]


class VBPLevel(Result):
    """One VisualBackProp level: the block's channel-averaged map and the intermediate mask, each in [0, 1]."""

    name: str
    averaged: Array
    mask: Array


class VBPResult(Result):
    """The VisualBackProp mask (``H x W`` in [0, 1]), the probabilities, and every level when asked."""

    model: ModelRef
    mask: Array
    probabilities: dict[str, float]
    labels: list[str]
    layers: list[VBPLevel] = Field(default_factory=list)


class Explanation(Result):
    """One method's map of an image (``H x W``), the explained target, and the model's probabilities.

    ``values`` says what ``map`` holds: ``display`` (scaled to [0, 1]) or ``raw`` (the method's own values,
    signed for occlusion and integrated gradients).
    """

    model: ModelRef
    method: str
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    values: str = "display"
    map: Array
    probabilities: dict[str, float] = Field(default_factory=dict)
    labels: list[str] = Field(default_factory=list)


class RoadPiece(Result):
    """One connected piece of a road mask: ``box`` = [x0, y0, x1, y1] (x1, y1 exclusive) and ``pixels`` in the
    returned mask's pixels; ``length_px`` its skeleton length there; ``length_m`` in metres (given ``gsd_m``)."""

    box: list[int]
    pixels: int
    length_px: float
    length_m: float | None = None


class Segmentation(Result):
    """``POST /segment``: the road mask (``H x W`` uint8, 1 = road), whether the model called the tile road (a
    road-free tile gets an empty mask), its pieces and lengths, and the rule that cut it."""

    model: ModelRef
    road: bool
    probabilities: dict[str, float]
    labels: list[str]
    rule: dict[str, Any] = Field(default_factory=dict)
    mask: Array
    road_pixels: int
    length_px: float
    gsd_m: float | None = None
    length_m: float | None = None
    pieces: list[RoadPiece] = Field(default_factory=list)


class ClassModel(Result):
    """``GET /class-model``: the image (``H x W x 3`` float32 RGB in [0, 1]) the model scores highest for the
    target (or a block's channel), with the model's probabilities for it."""

    model: ModelRef
    target: str | None = None
    layer: str | None = None
    channel: int | None = None
    steps: int
    seed: int
    objective: float
    probabilities: dict[str, float]
    labels: list[str] = Field(default_factory=list)
    image: Array
    compute_ms: float = 0.0

    @property
    def probability(self) -> float:
        """The probability of the model's first label (``road``) for the image."""
        return next(iter(self.probabilities.values()))


class MethodParameter(Result):
    """One query parameter of an explanation method, with its default and accepted values."""

    name: str
    type: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: list[str] | None = None
    description: str = ""


class MethodInfo(Result):
    """An explanation method; ``applicable`` is false (with a ``reason``) when it cannot apply to the model."""

    name: str
    applicable: bool = True
    reason: str | None = None
    summary: str | None = None
    cost: str | None = None
    uses_target: bool | None = None
    signed: bool | None = None
    params: list[MethodParameter] = Field(default_factory=list)


class MethodCatalog(Result):
    """``GET /explain``: every method for one model, and the targets it accepts."""

    model: ModelRef
    targets: list[str]
    default_target: str
    max_batch: int | None = None
    methods: list[MethodInfo]

    def applicable(self) -> list[MethodInfo]:
        """The methods that apply to this model."""
        return [method for method in self.methods if method.applicable]


class ModelInfo(Result):
    """A loaded model version and its manifest."""

    name: str
    version: int
    default: bool
    manifest: dict[str, Any]

    @property
    def labels(self) -> list[str]:
        """The model's labels, in output order."""
        return [str(label) for label in self.manifest.get("labels", [])]

    @property
    def layers(self) -> list[str]:
        """The conv blocks' names, shallowest first (what ``features(layers=...)`` accepts)."""
        return [str(block["name"]) for block in self.manifest.get("blocks", [])]


class Health(Result):
    """``/healthz``: the process answers."""

    status: str


class Readiness(Health):
    """``/readyz``: models loaded and warmed up, on which device."""

    device: str
    models: list[ModelRef]


class Picture(Result):
    """A PNG the server drew (mask, overlay, feature grid), with the model that answered."""

    png: bytes
    model: ModelRef | None = None

    def image(self) -> Image.Image:
        """The picture as a Pillow image (fully loaded)."""
        with Image.open(io.BytesIO(self.png)) as picture:
            picture.load()
            return picture.copy()

    def to_array(self) -> np.ndarray:
        """The picture's pixels as a uint8 array (``H x W`` or ``H x W x 3``)."""
        return np.asarray(self.image())

    def save(self, path: str | Path) -> Path:
        """Write the PNG bytes unchanged to ``path``; returns the path."""
        target = Path(path)
        target.write_bytes(self.png)
        return target
