"""HTTP metrics as a plain ASGI middleware: requests by route template and status, end-to-end latency.

The label is the matched route's template (``/predict``), never the raw path, so that clients probing random
URLs cannot grow the metric's cardinality: anything no route matched is counted as ``unmatched``.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.cancellation import CLIENT_CLOSED_REQUEST

UNMATCHED = "unmatched"


class HTTPMetricsMiddleware:
    """Counts every HTTP request once it has been answered; also stamps its arrival time for deadlines."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        scope.setdefault("state", {})["received_at"] = started
        status = 500  # what the client sees if the app fails before starting a response

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            if scope["state"].get("client_gone"):
                status = CLIENT_CLOSED_REQUEST
            self._observe(scope, status, time.monotonic() - started)

    @staticmethod
    def _observe(scope: Scope, status: int, seconds: float) -> None:
        services = getattr(scope["app"].state, "services", None)
        if services is None:  # outside the lifespan: nothing to record into
            return
        template = getattr(scope.get("route"), "path", None) or UNMATCHED
        services.metrics.observe_http(template, scope["method"], status, seconds)
