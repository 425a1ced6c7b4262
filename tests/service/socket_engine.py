"""The engine behind a real Unix socket, in the test's own process: the multi-process server's path without
starting processes.

``SocketEngine`` is an ``EngineClient`` made of the three parts the multi-process server composes across
processes: an ``Engine``, the ``EngineServer`` that serves it on a socket, and the ``RemoteEngine`` a front-end
talks to it through. Every request goes through the same frames, codec and socket as between processes, while
monkeypatches on the engine (a slow device worker, a held start) still apply.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from service.config import Settings
from service.engine.engine import build_engine
from service.engine.types import ExplainRequest, ExplainResult, InferenceRequest, InferenceResult, ModelInfo, ModelKey
from service.observability.metrics import Metrics
from service.transport.remote import RemoteEngine
from service.transport.server import EngineServer


class SocketEngine:
    """A local engine reached only through its socket."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="rl-"))  # short: Unix socket paths are limited to 107 bytes
        self.engine = build_engine(settings, metrics)
        self.server = EngineServer(self.engine, self._folder / "engine.sock")
        self.remote = RemoteEngine(self.server.path, metrics.engine_link)

    @property
    def ready(self) -> bool:
        return self.remote.ready

    @property
    def failure(self) -> str | None:
        return self.remote.failure

    @property
    def device(self) -> str:
        return self.remote.device

    @property
    def explain_max_batch(self) -> int:
        return self.remote.explain_max_batch

    async def start(self) -> None:
        await self.server.start()
        await self.remote.start()
        try:
            await self.engine.start()
        finally:
            self.server.publish_state()
        while not self.remote.ready:  # the state frame is on its way to the front-end side
            await asyncio.sleep(0.001)

    async def stop(self) -> None:
        await self.remote.stop()
        await self.engine.stop()
        await self.server.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def models(self) -> list[ModelInfo]:
        return self.remote.models()

    def resolve(self, name: str | None, version: int | None) -> ModelInfo:
        return self.remote.resolve(name, version)

    async def infer(
        self, key: ModelKey, requests: Sequence[InferenceRequest], deadline: float | None = None
    ) -> list[InferenceResult]:
        return await self.remote.infer(key, requests, deadline)

    async def explain(
        self, key: ModelKey, requests: Sequence[ExplainRequest], deadline: float | None = None
    ) -> list[ExplainResult]:
        return await self.remote.explain(key, requests, deadline)
