"""An HTTP front-end process of the multi-process server: the FastAPI app (parse, validate, decode, encode,
errors, keys) on its own ``SO_REUSEPORT`` socket of the shared port, with the engine process as its engine."""

from __future__ import annotations

import signal

from service.config import Settings
from service.server.process import Runtime, start_child


def run_frontend(settings: Settings, runtime: Runtime) -> None:
    """Entry point of a front-end process (spawned by the supervisor); stops gracefully on SIGTERM."""
    start_child(settings)
    from service.app import create_app
    from service.observability.metrics import Metrics
    from service.server.serve import serve, shared_port_socket
    from service.transport.client import EngineClient
    from service.transport.remote import RemoteEngine

    def make_engine(_settings: Settings, metrics: Metrics) -> EngineClient:
        return RemoteEngine(runtime.engine_socket, metrics)

    app = create_app(settings, make_engine, lambda: Metrics(multiprocess=True))
    sock = shared_port_socket(settings.host, runtime.port)
    serve(app, settings, sockets=[sock], signals=(signal.SIGTERM,))
