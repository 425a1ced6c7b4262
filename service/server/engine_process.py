"""The engine process of the multi-process server: the models, the batch queues and the device worker, served
to every front-end over the runtime folder's Unix socket.

It listens before its models are loaded (front-ends connect and report not ready), tells the front-ends when it
becomes ready, and on SIGTERM stops taking work, finishes everything it accepted, and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING

from service.config import Settings
from service.server.process import Runtime, start_child

if TYPE_CHECKING:  # imported inside the process only: the supervisor, which names this entry point, has no torch
    from service.engine.engine import Engine
    from service.transport.server import EngineServer

logger = logging.getLogger("service.engine")


def run_engine(settings: Settings, runtime: Runtime) -> None:
    """Entry point of the engine process (spawned by the supervisor)."""
    start_child(settings)
    import uvloop

    from service.server.serve import tune_garbage_collector

    tune_garbage_collector()
    uvloop.run(_serve(settings, runtime))


async def _serve(settings: Settings, runtime: Runtime) -> None:
    from service.engine.engine import build_engine
    from service.observability.metrics import Metrics
    from service.transport.server import EngineServer

    engine = build_engine(settings, Metrics(multiprocess=True))
    server = EngineServer(engine, runtime.engine_socket)
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    starting = asyncio.create_task(_start(engine, server), name="roadlens-engine-start")
    await stop.wait()
    logger.info("engine stopping: finishing %d accepted requests", server.requests_in_flight)
    starting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await starting
    stopped = asyncio.create_task(engine.stop())
    await asyncio.sleep(0)  # the engine now refuses new work; say so before draining
    server.publish_state()
    await stopped
    await server.close()


async def _start(engine: Engine, server: EngineServer) -> None:
    try:
        await engine.start()
    except Exception:  # the failure is the engine's state: front-ends answer 503 with it
        logger.exception("the models could not be loaded; the front-ends will answer 503")
    server.publish_state()
