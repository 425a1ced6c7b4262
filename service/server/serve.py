"""One uvicorn server for one process: the single-process service, or one front-end of the multi-process one."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import signal
import socket
import threading
from collections.abc import Generator, Sequence
from types import FrameType

import uvicorn
from fastapi import FastAPI

from service.api.cancellation import InFlight
from service.config import Settings
from service.server.http import uvicorn_options

logger = logging.getLogger("service.server")

# Every request allocates thousands of short-lived objects (the ASGI stack, pydantic models, futures), so with
# CPython's default young-generation threshold of 700 a collection ran every few requests: under load on 2 CPU
# cores, collections took 8 % of the event loop's time. Nothing on the request path relies on prompt cycle
# collection, so a server process collects its young generation 70x less often, and freezes what start-up
# imported out of every later collection. Measured: about +9 % /predict throughput at concurrency 32.
YOUNG_GENERATION_THRESHOLD = 50_000
ABANDON_MARGIN_S = 1.0  # before the grace period ends, to answer the requests still running (at most a quarter)
LISTEN_BACKLOG = 2048


def tune_garbage_collector() -> None:
    """Rarer young-generation collections, and the imported modules frozen out of them (server processes only)."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)
    gc.collect()
    gc.freeze()


class Server(uvicorn.Server):
    """uvicorn's server, listening only to ``signals``, exiting normally after a graceful shutdown, and ending
    the requests still running shortly before the grace period is over.

    uvicorn re-raises the signal that stopped it once it has shut down, so a clean SIGTERM drain ended with
    exit status 143; a server that drained everything it accepted has nothing to report, and exits 0. When the
    grace period runs out, uvicorn cancels what is left, and the clients got a bare 500 text/plain: instead, a
    moment before, ``in_flight.abandon()`` answers each of them 503 JSON and cancels its work.
    """

    def __init__(self, config: uvicorn.Config, signals: Sequence[signal.Signals], in_flight: InFlight) -> None:
        super().__init__(config)
        self._signals = tuple(signals)
        self._in_flight = in_flight
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        first = not self.should_exit
        super().handle_exit(sig, frame)
        if first and self._loop is not None:
            grace = self.config.timeout_graceful_shutdown or 0
            when = max(0.0, grace - min(ABANDON_MARGIN_S, grace / 4))
            self._loop.call_soon_threadsafe(self._loop.call_later, when, self._abandon)

    def _abandon(self) -> None:
        abandoned = self._in_flight.abandon()
        if abandoned:
            logger.warning("grace period over: %d requests still running answered 503 and were cancelled", abandoned)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in self._signals}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


def uvicorn_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """The uvicorn configuration of a RoadLens server process (``http.uvicorn_options``: the guarded protocol)."""
    options = uvicorn_options(settings) | {
        # A fraction of a second of grace still counts (uvicorn would round it down to none).
        "timeout_graceful_shutdown": math.ceil(settings.shutdown_timeout_s),
        "backlog": LISTEN_BACKLOG,
    }
    return uvicorn.Config(app, **options)


def serve(
    app: FastAPI,
    settings: Settings,
    sockets: list[socket.socket] | None = None,
    signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    """Serve ``app`` (``create_app``) until one of ``signals`` arrives, on ``sockets`` or the settings' address."""
    server = Server(uvicorn_config(app, settings), signals, app.state.in_flight)
    tune_garbage_collector()
    server.run(sockets=sockets)


def shared_port_socket(host: str, port: int, listen: bool = True) -> socket.socket:
    """A TCP socket bound with ``SO_REUSEPORT``: every front-end binds its own to the same port, and the kernel
    spreads new connections over them (one socket shared by all would let a few processes take most keep-alive
    connections). ``listen=False`` only holds the port: such a socket is never given a connection."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
        if listen:
            sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock
