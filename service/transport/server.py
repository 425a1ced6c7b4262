"""The engine process's side of the boundary: one Unix socket, every front-end connected to it.

Each front-end connection sends frames (``wire``) naming an operation:

- ``hello``: answered with the engine's state (ready or not, why not, device, the model catalogue);
- ``infer`` / ``explain``: one HTTP request's images, with the model, the absolute deadline
  (``time.monotonic()``, which every process on a machine shares) and a request id; answered with a ``result``
  or an ``error`` frame carrying that id. Requests from every connection meet in the engine's batch queues;
- ``class_model``: one class-model visualisation (no image; made or taken from the engine's cache), answered
  the same way;
- ``reload``: scan the model store again; answered once every connection has the new catalogue;
- ``cancel``: the front-end gave up on a request id (deadline, client gone): its queued images are dropped.

The state is sent again to every connection whenever it changes (ready, stopping). Frames written within one
event-loop turn leave in one write, so the results of one device batch reach each front-end together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from service.engine.engine import Engine
from service.engine.types import ModelKey
from service.errors import RoadLensError
from service.transport import codec
from service.transport.wire import FramedProtocol, Incoming, Outgoing, frame

logger = logging.getLogger(__name__)


class EngineServer:
    """Serves ``engine`` on the Unix socket ``path`` (mode 0600: only this user's processes may connect)."""

    def __init__(self, engine: Engine, path: Path) -> None:
        self.engine = engine
        self.path = path
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[_Connection] = set()
        self._full: dict[tuple[str, int, str], dict[str, Any]] = {}
        engine.on_full = self._queue_full

    @property
    def requests_in_flight(self) -> int:
        """Requests received and not yet answered, over every connection."""
        return sum(len(connection.tasks) for connection in self._connections)

    async def start(self) -> None:
        """Listen; front-ends may connect before the engine is ready (they are told it is not)."""
        if self._server is not None:
            raise RuntimeError("the engine server is already listening")
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _Connection(self), str(self.path))
        os.chmod(self.path, 0o600)

    def state(self) -> dict[str, Any]:
        """What a front-end needs to answer ``/readyz``, ``/models`` and to resolve model names."""
        ready = self.engine.ready
        models = [codec.model_json(info) for info in self.engine.models()] if ready else []
        problems = codec.problems_json(self.engine.unavailable()) if ready else []
        return {
            "op": "state",
            "ready": ready,
            "failure": self.engine.failure,
            "problems": problems,
            "full": list(self._full.values()),
            "device": self.engine.device,
            "explain_max_batch": self.engine.explain_max_batch,
            "models": models,
        }

    def publish_state(self) -> None:
        """Tell every connected front-end the current state."""
        pieces = frame(self.state())
        for connection in list(self._connections):
            connection.send(pieces)

    def _queue_full(self, key: ModelKey, queue: str, full: bool, retry_after: int) -> None:
        """A queue filled up or has room again: every front-end is told at once (they refuse before reading)."""
        change = {"op": "full", "model": codec.key_json(key), "queue": queue, "full": full, "retry_after": retry_after}
        if full:
            self._full[(key.name, key.version, queue)] = change
        else:
            self._full.pop((key.name, key.version, queue), None)
        pieces = frame(change)
        for connection in list(self._connections):
            connection.send(pieces)

    async def close(self) -> None:
        """Stop listening and drop every connection (after the engine has finished its work)."""
        if self._server is not None:
            self._server.close()
        connections = list(self._connections)
        for connection in connections:
            connection.close()
        if connections:  # their sockets close on the loop's next turns
            await asyncio.wait([connection.closed for connection in connections], timeout=1.0)
        if self._server is not None:
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _attach(self, connection: _Connection) -> None:
        self._connections.add(connection)

    def _detach(self, connection: _Connection) -> None:
        self._connections.discard(connection)


class _Connection(FramedProtocol):
    """One front-end: its frames in, its answers out, and the requests it is waiting for."""

    def __init__(self, server: EngineServer) -> None:
        super().__init__()
        self.server = server
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.server._attach(self)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.closed.done():
            self.closed.set_result(None)
        self.server._detach(self)
        for task in self.tasks.values():  # nobody is left to answer: drop the work
            task.cancel()

    def on_frame(self, incoming: Incoming) -> None:
        self._dispatch(incoming)

    def _dispatch(self, incoming: Incoming) -> None:
        header = incoming.header
        op = header.get("op")
        if op == "hello":
            self.send(frame(self.server.state()))
        elif op == "cancel":
            task = self.tasks.get(int(header.get("id", -1)))
            if task is not None:
                task.cancel()
        elif op in ("infer", "explain", "class_model"):
            self._start(int(header["id"]), self._answer(incoming))
        elif op == "reload":
            self._start(int(header["id"]), self._reload(int(header["id"])))
        else:
            logger.warning("ignoring a frame with unknown operation %r", op)

    def _start(self, request_id: int, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks[request_id] = task
        task.add_done_callback(lambda _: self.tasks.pop(request_id, None))

    async def _reload(self, request_id: int) -> None:
        try:
            await self.server.engine.reload()
        except Exception as error:  # the answer is the error; the engine keeps what it served
            self.send(frame({"op": "error", "id": request_id, "error": codec.error_json(error)}))
            return
        finally:
            self.server.publish_state()  # every front-end sees the new catalogue before this answer
        self.send(frame({"op": "result", "id": request_id, "results": []}))

    async def _answer(self, incoming: Incoming) -> None:
        header = incoming.header
        request_id = int(header["id"])
        try:
            out, results = await _run(self.server.engine, incoming)
        except asyncio.CancelledError:
            return  # the front-end cancelled, or went away: nobody to answer
        except Exception as error:  # every failure is the request's answer; the connection stays up
            if not isinstance(error, RoadLensError):
                logger.exception("request %d failed in the engine", request_id)
            self.send(frame({"op": "error", "id": request_id, "error": codec.error_json(error)}))
            return
        self.send(out.frame({"op": "result", "id": request_id, "results": results}))


async def _run(engine: Engine, incoming: Incoming) -> tuple[Outgoing, list[dict[str, Any]]]:
    """Run an ``infer``, ``explain`` or ``class_model`` frame through the engine; the answer's arrays and JSON
    part."""
    header = incoming.header
    key = codec.get_key(header["model"])
    deadline = header.get("deadline")
    out = Outgoing()
    if header["op"] == "infer":
        requests = [codec.get_inference_request(incoming, item) for item in header["items"]]
        results = await engine.infer(key, requests, deadline)
        return out, [codec.put_inference_result(out, result) for result in results]
    if header["op"] == "class_model":
        [item] = header["items"]
        made = await engine.class_model(key, codec.get_class_model_request(item))
        return out, [codec.put_class_model_result(out, made)]
    explain_requests = [codec.get_explain_request(incoming, item) for item in header["items"]]
    explained = await engine.explain(key, explain_requests, deadline)
    return out, [codec.put_explain_result(out, result) for result in explained]
