"""Work for a client that has gone is dropped: once a request's body has been read, a disconnect cancels its handler.

The handler is waiting on the engine by then (its images queued or computing); cancelling it takes them out of
the batch queue (in-process) or tells the engine process to drop them, instead of computing answers nobody will
read. Requests are counted in the metrics with status 499 (the client closed the request), as nginx does.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLIENT_CLOSED_REQUEST = 499


class CancelOnDisconnect:
    """ASGI middleware: after the body, watch for ``http.disconnect`` and cancel the request's task on it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None
        watch = _Watch(task, receive)
        try:
            await self.app(scope, watch.receive, watch.send(send))
        except asyncio.CancelledError:
            if not watch.client_gone:
                raise
            task.uncancel()  # the cancellation was ours: the request ends here, with nobody to answer
            scope.setdefault("state", {})["client_gone"] = True
        finally:
            watch.stop()


class _Watch:
    """One request's disconnect watch: started when the app has read the whole body."""

    def __init__(self, task: asyncio.Task[object], receive: Receive) -> None:
        self._task = task
        self._receive = receive
        self._watcher: asyncio.Future[None] | None = None
        self._answered = False
        self.client_gone = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and not message.get("more_body") and self._watcher is None:
            self._watcher = asyncio.ensure_future(self._wait_for_disconnect())
        return message

    def send(self, send: Send) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self._answered = True
            await send(message)

        return sending

    async def _wait_for_disconnect(self) -> None:
        # The server's receive() returns http.disconnect when the client goes, and also once the response is
        # complete: only the first is a reason to stop.
        message = await self._receive()
        if message["type"] == "http.disconnect" and not self._answered and not self._task.done():
            self.client_gone = True
            self._task.cancel()

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
