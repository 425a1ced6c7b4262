"""The engine behind a real Unix socket, in the test's own process: the multi-process server's path without
starting processes.

``SocketEngine`` is the ``RemoteEngine`` a front-end uses, started together with what it talks to: an ``Engine``
and the ``EngineServer`` that serves it on a socket. Every request goes through the same frames, codec and
socket as between processes, while monkeypatches on the engine (a slow device worker, a held start) still apply.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from service.config import Settings
from service.engine.engine import build_engine
from service.observability.metrics import Metrics
from service.transport.remote import RemoteEngine
from service.transport.server import EngineServer


class SocketEngine(RemoteEngine):
    """A local engine reached only through its socket."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="rl-"))  # short: Unix socket paths are limited to 107 bytes
        self.engine = build_engine(settings, metrics)
        self.server = EngineServer(self.engine, self._folder / "engine.sock")
        super().__init__(self.server.path, metrics)

    async def connect(self, timeout_s: float = 5.0) -> None:
        await self.server.start()
        await super().connect(timeout_s)

    async def start(self) -> None:
        await super().start()
        try:
            await self.engine.start()
        finally:
            self.server.publish_state()
        while not self.ready:  # the state frame is on its way to the front-end side
            await asyncio.sleep(0.001)

    async def stop(self) -> None:
        await super().stop()
        await self.engine.stop()
        await self.server.close()
        shutil.rmtree(self._folder, ignore_errors=True)
