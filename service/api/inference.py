"""The request pipeline shared by the inference endpoints: decode -> engine (batch, predict) -> results.

Also the small readers of a model's manifest that handlers need (input size, labels, thresholds, blocks).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from service.engine.types import InferenceRequest, InferenceResult
from service.errors import DeadlineExceeded, InvalidParameter
from service.pipeline.decode import DecodedImage
from service.schemas import ModelRef, Prediction

if TYPE_CHECKING:
    from service.api.deps import Services
    from service.engine.types import ModelInfo


@dataclass(frozen=True)
class Deadline:
    """An absolute ``time.monotonic()`` deadline and the budget it came from."""

    at: float
    budget_s: float

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Run the block under the deadline: 504 (``DeadlineExceeded``) when it passes."""
        remaining = self.at - time.monotonic()
        error = DeadlineExceeded(
            f"the request did not finish within its deadline of {self.budget_s * 1000:.0f} ms",
            detail={"deadline_ms": round(self.budget_s * 1000)},
        )
        if remaining <= 0:
            raise error
        try:
            async with asyncio.timeout(remaining):
                yield
        except TimeoutError:
            raise error from None


def input_size(info: ModelInfo) -> tuple[int, int]:
    """The model's input (height, width)."""
    spec = info.manifest["input"]
    return int(spec["height"]), int(spec["width"])


def block_names(info: ModelInfo) -> list[str]:
    """The model's conv blocks, shallowest first."""
    return [str(block["name"]) for block in info.manifest["blocks"]]


def model_ref(info: ModelInfo) -> ModelRef:
    """The ``{"name", "version"}`` of a response."""
    return ModelRef(name=info.key.name, version=info.key.version)


def model_headers(info: ModelInfo) -> dict[str, str]:
    """Which model answered, for responses whose body cannot say it (PNG, NPY, NPZ)."""
    return {"X-Model-Name": info.key.name, "X-Model-Version": str(info.key.version)}


def prediction(info: ModelInfo, probabilities: np.ndarray) -> Prediction:
    """Probabilities by label, and the labels at or above their manifest threshold."""
    labels = [str(label) for label in info.manifest["labels"]]
    thresholds: dict[str, Any] = info.manifest.get("thresholds") or {}
    scores = {label: float(p) for label, p in zip(labels, probabilities.tolist(), strict=True)}
    chosen = [label for label in labels if scores[label] >= float(thresholds.get(label, 0.5))]
    return Prediction(probabilities=scores, labels=chosen)


def parse_layers(raw: str | None, info: ModelInfo) -> tuple[str, ...]:
    """``"block1,block3"`` -> the named blocks in model order; None or empty -> every block (422 for unknown)."""
    available = block_names(info)
    if not raw or not raw.strip():
        return tuple(available)
    wanted = {name.strip() for name in raw.split(",") if name.strip()}
    unknown = sorted(wanted - set(available))
    if unknown:
        raise InvalidParameter(
            f"unknown layer(s) {', '.join(unknown)}; accepted: {', '.join(available)}",
            detail={"parameter": "layers", "unknown": unknown, "accepted": available},
        )
    return tuple(name for name in available if name in wanted)


async def run_inference(
    services: Services,
    info: ModelInfo,
    deadline: Deadline,
    images: list[bytes],
    make_request: Callable[[DecodedImage], InferenceRequest],
    keep_original: bool = False,
) -> tuple[list[DecodedImage], list[InferenceResult]]:
    """Decode every image in the thread pool, then run them through the engine as one group."""
    decoded = await services.decoder.decode_all(images, input_size(info), keep_original)
    results = await services.engine.infer(info.key, [make_request(d) for d in decoded], deadline.at)
    return decoded, results
