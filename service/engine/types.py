"""What the HTTP edge hands to the engine, and what comes back.

The edge decodes and resizes images (``service/pipeline/decode.py``) and submits one ``InferenceRequest``
per image to the engine; the engine batches requests from every connection, runs one forward pass per
device batch (on CPU, one per slice of at most ``forward_max_batch`` images), which feeds predictions, feature
maps and VisualBackProp alike, and resolves each request's future with an ``InferenceResult``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# A model's two batch queues: forward passes (/predict, /features, /visualbackprop) and explanations (/explain).
FORWARD, EXPLAIN = "forward", "explain"


@dataclass(frozen=True, order=True)
class ModelKey:
    """A model name and numeric version in the store, e.g. ``ModelKey("roadnet", 1)``; ordered by name, then
    version."""

    name: str
    version: int


@dataclass(frozen=True)
class ModelInfo:
    """A model version in the store, its manifest, and whether it is what a request without a model gets."""

    key: ModelKey
    manifest: dict[str, Any]
    is_default: bool


@dataclass(frozen=True)
class BlockGeometry:
    """One conv block as the manifest describes it (what VisualBackProp's upsampling needs)."""

    name: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    in_channels: int
    out_channels: int
    output_size: tuple[int, int]


@dataclass(frozen=True)
class VBPOptions:
    """VisualBackProp variants: the faithful mask (default) or the overlap-normalised one."""

    normalize_overlap: bool = False
    keep_layers: bool = False


@dataclass(frozen=True)
class InferenceRequest:
    """One image for one model.

    ``image``: float32 array 3 x H x W, RGB in [0, 1], already at the model's input size.
    ``features``: block names whose post-ReLU maps to return (empty: none).
    ``vbp``: VisualBackProp options, or None when no mask is wanted.
    """

    image: np.ndarray
    features: tuple[str, ...] = ()
    vbp: VBPOptions | None = None


@dataclass(frozen=True)
class VBPLayer:
    """One level of VisualBackProp: the channel-averaged map and the intermediate mask at that level."""

    name: str
    averaged: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class VBPResult:
    """The final mask (float32 H x W in [0, 1], model input size) and, when asked, every level's maps."""

    mask: np.ndarray
    layers: tuple[VBPLayer, ...] = ()


@dataclass(frozen=True)
class InferenceResult:
    """Per-image output: logits and sigmoid probabilities per label, plus whatever the request asked for."""

    logits: np.ndarray
    probabilities: np.ndarray
    features: dict[str, np.ndarray] = field(default_factory=dict)
    vbp: VBPResult | None = None
    timings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExplainRequest:
    """One image to explain with one method.

    ``params``: the method's resolved parameters as sorted ``(name, value)`` pairs (``registry.params_key``);
    requests with the same method and params share one method call in a batch. ``target``: weights over the
    logits (``explain.targets.target_weights``), per request, so different targets still share a batch.
    """

    image: np.ndarray
    method: str
    params: tuple[tuple[str, bool | int | float | str | None], ...] = ()
    target: tuple[float, ...] = (1.0,)


@dataclass(frozen=True)
class ExplainResult:
    """One explanation: the method's own map (``raw``, signed for occlusion and integrated gradients) and the
    display map (``display``: positive part, min-max scaled to [0, 1]), both float32 H x W at the model's input
    size, with the model's logits and probabilities for the same image."""

    raw: np.ndarray
    display: np.ndarray
    logits: np.ndarray
    probabilities: np.ndarray
    timings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClassModelRequest:
    """A class-model visualisation to make (``explain/class_model.py``): gradient ascent on the input.

    ``target``: weights over the logits of the raised score (``+1`` on road, ``-1`` for not_road), as for
    explanations; or, when ``layer`` is set, the mean activation of ``channel`` of that conv block is raised
    instead. ``steps`` of ascent from a start drawn from ``seed``. Hashable: the engine caches results by it.
    """

    target: tuple[float, ...] = (1.0,)
    steps: int = 64  # the shipped model's images pass 0.99 / 0.01 with a wide margin (docs/explanations.md)
    seed: int = 0
    layer: str | None = None
    channel: int | None = None


@dataclass(frozen=True)
class ClassModelResult:
    """The image (float32 3 x H x W RGB in [0, 1], the model's input size), the model's logits and probabilities
    for it, the final value of the raised score, the steps run, and the milliseconds it took on the device."""

    image: np.ndarray
    logits: np.ndarray
    probabilities: np.ndarray
    objective: float
    steps: int
    compute_ms: float
