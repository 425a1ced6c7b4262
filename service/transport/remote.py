"""The front-end's side of the boundary: ``RemoteEngine``, an ``EngineClient`` for the engine process.

It keeps one connection to the engine's Unix socket (reconnecting while the engine starts or restarts), mirrors
the engine's state (ready, why not, device, the model catalogue) so that ``/readyz``, ``/models`` and model
resolution are answered locally, and sends each HTTP request's images as one frame with a request id.

Every request's entry ("slot") in the in-flight table is removed on every path: an answer, an error, the
caller's cancellation (deadline, client gone: the engine is then told to drop the work) or the connection's loss,
which fails every waiting request at once with ``NotReady`` (503) instead of letting it hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from service.engine.catalogue import Catalogue
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
from service.errors import NotReady, Overloaded
from service.observability.metrics import Metrics
from service.transport import codec
from service.transport.wire import FramedProtocol, Incoming, Outgoing, frame

logger = logging.getLogger(__name__)

R = TypeVar("R")
Decode = Callable[[Incoming, dict[str, Any]], Any]
RECONNECT_FIRST_S = 0.02
RECONNECT_MAX_S = 0.5
FIRST_STATE_WAIT_S = 5.0  # an engine that is up answers at once; one that is not may be restarting


class _Link(FramedProtocol):
    """The connection to the engine; frames go to the ``RemoteEngine``."""

    def __init__(self, engine: RemoteEngine) -> None:
        super().__init__()
        self._engine = engine
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_frame(self, incoming: Incoming) -> None:
        self._engine._on_frame(incoming)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.lost.done():
            self.lost.set_result(None)
        self._engine._on_lost(self)


class RemoteEngine:
    """The engine process at the other end of the Unix socket ``path``; ``metrics`` get the link's state and the
    requests refused here."""

    def __init__(self, path: Path, metrics: Metrics | None = None) -> None:
        self._path = path
        self._metrics = metrics or Metrics()
        self._full: dict[tuple[ModelKey, str], int] = {}  # the engine's full queues: retry-after seconds
        self._link: _Link | None = None
        self._state: dict[str, Any] = {}
        self._catalogue: Catalogue | None = None
        self._pending: dict[int, tuple[asyncio.Future[Any], Decode]] = {}
        self._ids = itertools.count(1)
        self._keeper: asyncio.Task[None] | None = None
        self._first_state = asyncio.Event()
        self._stopping = False

    @property
    def ready(self) -> bool:
        """Connected to an engine that says it is ready."""
        return self._link is not None and self._catalogue is not None and bool(self._state.get("ready"))

    @property
    def failure(self) -> str | None:
        """Why the engine cannot serve (its models failed to load), or None."""
        failure = self._state.get("failure")
        return None if failure is None else str(failure)

    @property
    def device(self) -> str:
        """The engine's device, as it last reported it."""
        return str(self._state.get("device", "unknown"))

    @property
    def explain_max_batch(self) -> int:
        """The engine's bound on forward passes per explanation batch."""
        return int(self._state.get("explain_max_batch", 1))

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    async def connect(self, timeout_s: float = FIRST_STATE_WAIT_S) -> None:
        """Start connecting, and wait (at most ``timeout_s``) for the engine's first state: a front-end that
        replaces another next to a ready engine then joins the port ready, instead of answering 503 at first."""
        self._keep()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_state.wait(), timeout_s)

    async def start(self) -> None:
        """Keep connected (if ``connect`` was not called); readiness follows the engine's state from then on."""
        self._keep()

    def _keep(self) -> None:
        if self._keeper is None:
            self._keeper = asyncio.create_task(self._keep_connected(), name="roadlens-engine-link")

    async def stop(self) -> None:
        """Disconnect (requests still waiting fail with ``NotReady``)."""
        self._stopping = True
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        if self._link is not None:
            self._link.close()

    def models(self) -> list[ModelInfo]:
        """The engine's models (``NotReady`` until it is ready)."""
        return self._ready_catalogue().infos()

    def admit(self, key: ModelKey, queue: str) -> None:
        """``Overloaded`` (429) at once while the engine says that queue of the model is full."""
        retry_after = self._full.get((key, queue))
        if retry_after is not None:
            self._metrics.for_model(key.name, key.version).rejected("queue_full", 1)
            raise Overloaded(
                f"the {queue} queue of {key.name}:{key.version} is full; retry in {retry_after} s",
                retry_after=retry_after,
                detail={"model": key.name, "version": key.version, "queue": queue},
            )

    def unavailable(self) -> dict[ModelKey, str]:
        """Versions in the store the engine could not load, with why (``NotReady`` until it is ready)."""
        return dict(self._ready_catalogue().unavailable)

    async def reload(self) -> None:
        """Ask the engine to scan the store again; returns once this front-end has the new catalogue."""
        await self._call("reload", None, None, Outgoing(), [], codec.get_inference_result)

    def resolve(self, name: str | None, version: int | None) -> ModelInfo:
        """The model version a request names, resolved locally from the engine's catalogue."""
        catalogue = self._ready_catalogue()
        return catalogue.info(catalogue.resolve(name, version))

    async def infer(
        self, key: ModelKey, requests: Sequence[InferenceRequest], deadline: float | None = None
    ) -> list[InferenceResult]:
        """Results for one HTTP request's images, computed in the engine's batches."""
        out = Outgoing()
        items = [codec.put_inference_request(out, request) for request in requests]
        return await self._call("infer", key, deadline, out, items, codec.get_inference_result)

    async def explain(
        self, key: ModelKey, requests: Sequence[ExplainRequest], deadline: float | None = None
    ) -> list[ExplainResult]:
        """Explanations for one HTTP request's images, computed in the engine's batches."""
        out = Outgoing()
        items = [codec.put_explain_request(out, request) for request in requests]
        return await self._call("explain", key, deadline, out, items, codec.get_explain_result)

    async def class_model(self, key: ModelKey, request: ClassModelRequest) -> ClassModelResult:
        """A class-model image, made (or taken from the cache) in the engine's device worker."""
        items = [codec.put_class_model_request(request)]
        [made] = await self._call("class_model", key, None, Outgoing(), items, codec.get_class_model_result)
        return made

    async def _call(
        self, op: str, key: ModelKey | None, deadline: float | None, out: Outgoing, items: list[Any], decode: Decode
    ) -> list[Any]:
        link = self._link
        if link is None or not self.ready:
            raise NotReady("the engine is not connected or not ready")
        request_id = next(self._ids)
        answer: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (answer, decode)
        model = None if key is None else codec.key_json(key)
        header = {"op": op, "id": request_id, "model": model, "deadline": deadline, "items": items}
        link.send(out.frame(header))
        self._report()
        try:
            return await answer
        finally:
            if self._pending.pop(request_id, None) is not None:  # given up before an answer: drop the work
                link.send(frame({"op": "cancel", "id": request_id}))
            self._report()

    def _ready_catalogue(self) -> Catalogue:
        if not self.ready or self._catalogue is None:
            raise NotReady("the engine is not connected or not ready")
        return self._catalogue

    async def _keep_connected(self) -> None:
        loop = asyncio.get_running_loop()
        delay = RECONNECT_FIRST_S
        while not self._stopping:
            try:
                _, link = await loop.create_unix_connection(lambda: _Link(self), str(self._path))
            except OSError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            delay = RECONNECT_FIRST_S
            self._link = link
            link.send(frame({"op": "hello", "pid": os.getpid()}))
            await link.lost

    def _on_frame(self, incoming: Incoming) -> None:
        header = incoming.header
        op = header.get("op")
        if op == "state":
            self._set_state(header)
            return
        if op == "full":
            self._set_full(header)
            return
        entry = self._pending.pop(int(header.get("id", -1)), None)
        if entry is None:
            return  # answered after its caller gave up
        answer, decode = entry
        if answer.done():
            return
        if op == "result":
            answer.set_result([decode(incoming, item) for item in header["results"]])
        else:
            answer.set_exception(codec.get_error(header.get("error") or {}))

    def _set_state(self, state: dict[str, Any]) -> None:
        self._first_state.set()
        self._state = state
        self._full = {}
        for change in state.get("full") or []:
            self._set_full(change)
        models = [codec.get_model(entry) for entry in state.get("models") or []]
        default = next((m.key.name for m in models if m.is_default), None)
        manifests = {m.key: m.manifest for m in models}
        problems = codec.get_problems(state.get("problems"))
        ready = default is not None and state.get("ready")
        self._catalogue = Catalogue(manifests, default, problems) if ready and default is not None else None
        self._report()

    def _set_full(self, change: dict[str, Any]) -> None:
        where = (codec.get_key(change["model"]), str(change["queue"]))
        if change["full"]:
            self._full[where] = int(change["retry_after"])
        else:
            self._full.pop(where, None)

    def _on_lost(self, link: _Link) -> None:
        if link is not self._link:
            return
        self._link = None
        self._catalogue = None
        self._full = {}
        self._state = {**self._state, "ready": False}
        waiting, self._pending = self._pending, {}
        for answer, _ in waiting.values():
            if not answer.done():
                answer.set_exception(NotReady("the engine stopped before answering; retry"))
        if not self._stopping:
            logger.warning("lost the engine connection; %d requests failed with 503, reconnecting", len(waiting))
        self._report()

    def _report(self) -> None:
        self._metrics.engine_link(self._link is not None, len(self._pending))
