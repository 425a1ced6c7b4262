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
    def failure(self) -> str | None:
        """Why the engine cannot serve (its models could not be loaded), or None."""
        ...

    @property
    def device(self) -> str:
        """The device the models run on, e.g. ``"cpu"`` or ``"cuda:0"``."""
        ...

    @property
    def explain_max_batch(self) -> int:
        """Most forward passes per device batch of an explanation."""
        ...

    async def connect(self) -> None:
        """What must be done before the server listens: nothing in-process; a front-end reaches the engine
        process and learns its state, so that a front-end started next to a ready engine is ready at once."""
        ...

    async def start(self) -> None:
        """Become ready (load and warm up; for a front-end, follow the engine); raises when the models cannot be
        served. Runs in the background while the server already answers ``/healthz``."""
        ...

    async def stop(self) -> None:
        """Stop taking work and finish what was accepted."""
        ...

    def models(self) -> list[ModelInfo]:
        """Every loaded model version, sorted by name then version."""
        ...

    def admit(self, key: ModelKey, queue: str) -> None:
        """``Overloaded`` (429) at once when the model's ``queue`` ("forward" or "explain") is full, so that a
        request is refused before its body is read."""
        ...

    def unavailable(self) -> dict[ModelKey, str]:
        """Versions in the store that could not be loaded, with why."""
        ...

    async def reload(self) -> None:
        """Scan the model store again and serve what changed (new, repaired, removed versions)."""
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
