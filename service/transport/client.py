"""``EngineClient``: what the HTTP front-end needs from an engine, wherever the engine runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from service.engine.types import (
    ClassModelRequest,
    ClassModelResult,
    ExplainRequest,
    ExplainResult,
    InferenceRequest,
    InferenceResult,
    ModelInfo,
    ModelKey,
)


class EngineClient(Protocol):
    """Models, readiness and batched computation, as the front-end sees them (``service.engine.engine.Engine``
    in-process)."""

    @property
    def ready(self) -> bool:
        """True while requests can be served: models loaded and warmed up, not stopping."""
        ...

    @property
    def device(self) -> str:
        """The device the models run on, e.g. ``"cpu"`` or ``"cuda:0"``."""
        ...

    @property
    def explain_max_batch(self) -> int:
        """Most forward passes per device batch of an explanation."""
        ...

    async def start(self) -> None:
        """Become ready (load and warm up, or connect); raises when the models cannot be served."""
        ...

    async def stop(self) -> None:
        """Stop taking work and finish what was accepted."""
        ...

    def models(self) -> list[ModelInfo]:
        """Every loaded model version, sorted by name then version."""
        ...

    def resolve(self, name: str | None, version: int | None) -> ModelInfo:
        """The model version a request names (None: the default name, the newest version)."""
        ...

    async def infer(
        self, key: ModelKey, requests: Sequence[InferenceRequest], deadline: float | None = None
    ) -> list[InferenceResult]:
        """Results for one HTTP request's images, batched with everyone else's."""
        ...

    async def explain(
        self, key: ModelKey, requests: Sequence[ExplainRequest], deadline: float | None = None
    ) -> list[ExplainResult]:
        """Explanations for one HTTP request's images, batched with everyone else's."""
        ...

    async def class_model(self, key: ModelKey, request: ClassModelRequest) -> ClassModelResult:
        """The class-model image for ``request``, made on the engine's device and cached there."""
        ...
