"""A request's work stops when nobody will read its answer, or when shutdown can no longer wait for it.

- **Client gone**: once a request's body has been read, a disconnect cancels its handler. The handler is waiting
  on the engine by then (its images queued or computing); cancelling it takes them out of the batch queue
  (in-process) or tells the engine process to drop them. Counted with status 499, as nginx does.
- **Grace period over**: on SIGTERM the server stops accepting and waits for the requests in flight; shortly
  before ``shutdown_timeout_s`` runs out, ``InFlight.abandon()`` ends the ones still running with a 503 JSON
  error (``not_ready``) and cancels their work, so that no client gets a bare 500 and the process does not go on
  computing answers nobody will receive.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response

CLIENT_CLOSED_REQUEST = 499
ABANDONED = "the service is shutting down and its grace period ran out before this request finished; retry"


class InFlight:
    """The requests being served."""

    def __init__(self) -> None:
        self._requests: set[_Request] = set()

    def __len__(self) -> int:
        return len(self._requests)

    def abandon(self) -> int:
        """End every request still running with a 503; how many there were."""
        running = [request for request in self._requests if not request.answered]
        for request in running:
            request.abandon()
        return len(running)

    def add(self, request: _Request) -> None:
        self._requests.add(request)

    def discard(self, request: _Request) -> None:
        self._requests.discard(request)


class RequestCancellation:
    """ASGI middleware: cancel a request's task when its client goes or when ``in_flight.abandon()`` is called."""

    def __init__(self, app: ASGIApp, in_flight: InFlight) -> None:
        self.app = app
        self.in_flight = in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None
        request = _Request(task, receive)
        self.in_flight.add(request)
        try:
            await self.app(scope, request.receive, request.send(send))
        except asyncio.CancelledError:
            if request.ending is None:
                raise
            task.uncancel()  # the cancellation was ours: the request ends here
            await self._end(request, scope, send)
        finally:
            request.stop_watching()
            self.in_flight.discard(request)

    @staticmethod
    async def _end(request: _Request, scope: Scope, send: Send) -> None:
        if request.ending == "client_gone":
            scope.setdefault("state", {})["client_gone"] = True
        elif not request.started:
            response = error_response(503, "not_ready", ABANDONED, {"reason": "shutdown_grace_period_over"})
            await response(scope, request.receive, send)


class _Request:
    """One request: whether its answer has started or ended, and the watch for its client leaving."""

    def __init__(self, task: asyncio.Task[object], receive: Receive) -> None:
        self._task = task
        self._receive = receive
        self._watcher: asyncio.Future[None] | None = None
        self.started = False
        self.answered = False
        self.ending: str | None = None  # why this request's task was cancelled: "client_gone" or "abandoned"

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and not message.get("more_body") and self._watcher is None:
            self._watcher = asyncio.ensure_future(self._wait_for_disconnect())
        return message

    def send(self, send: Send) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                self.answered = True
            await send(message)

        return sending

    def abandon(self) -> None:
        if self.ending is None and not self._task.done():
            self.ending = "abandoned"
            self._task.cancel()

    async def _wait_for_disconnect(self) -> None:
        # The server's receive() returns http.disconnect when the client goes, and also once the response is
        # complete: only the first is a reason to stop.
        message = await self._receive()
        gone = message["type"] == "http.disconnect" and not self.answered
        if gone and self.ending is None and not self._task.done():
            self.ending = "client_gone"
            self._task.cancel()

    def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
