"""uvicorn for the service: its options for given ``Settings``, and an HTTP protocol that bounds what a client's
connection may cost.

uvicorn's httptools protocol has no limit on the size of a request's headers (a 64 MB header was answered 200),
keeps a new connection that never sends anything for ever, and lets a client send its headers or its body a byte
at a time for as long as it likes. ``GuardedHttpProtocol`` adds, per connection:

- an idle timeout (``idle_timeout_s``): a connection with no request in progress, new or kept alive, is closed
  after that long without a byte (uvicorn's keep-alive timeout, which it otherwise starts only after a response);
- a header timeout (``header_timeout_s``): from the first byte of a request until its headers are complete;
  then 408;
- a body timeout (``body_timeout_s``): from the end of the headers until the whole body has arrived; then 408;
- a header size limit (``max_header_bytes``): the request line and header fields; 431, checked while they
  arrive, so an endless header is cut off after that many bytes rather than buffered;
- a connection limit (``max_connections`` per process): one more is answered 503 with ``Retry-After`` and closed.

Refusals are answered in the service's error shape (``{"error": {"code", "message", "detail"}}``) with
``Connection: close``; the connection then reads and drops what the client still sends for a moment before
closing, so that the client can read the answer instead of a connection reset. This subclasses uvicorn's
``HttpToolsProtocol`` and uses its internals (the per-connection state and parser callbacks): the uvicorn
version range in ``pyproject.toml`` is pinned to the releases it is tested with.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from asyncio import TimerHandle
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from service.config import Settings

logger = logging.getLogger("service.server")

# How long a refused connection goes on reading (and dropping) what the client sends before it is closed.
LINGER_S = 1.0


@dataclass(frozen=True)
class ConnectionLimits:
    """What one client connection may cost (see the module docstring)."""

    idle_timeout_s: float
    header_timeout_s: float
    body_timeout_s: float
    max_header_bytes: int
    max_connections: int

    @classmethod
    def of(cls, settings: Settings) -> ConnectionLimits:
        """The limits the settings give."""
        return cls(
            idle_timeout_s=settings.idle_timeout_s,
            header_timeout_s=settings.header_timeout_s,
            body_timeout_s=settings.body_timeout_s,
            max_header_bytes=settings.max_header_bytes,
            max_connections=settings.max_connections,
        )


def error_response(
    status: int, code: str, message: str, detail: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()
) -> bytes:
    """A whole HTTP/1.1 response with the service's error body and ``Connection: close``."""
    body = json.dumps({"error": {"code": code, "message": message, "detail": detail}}).encode()
    lines = [
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return STATUS_LINE[status] + "".join(line + "\r\n" for line in lines).encode("latin-1") + b"\r\n" + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the timeouts and limits of ``limits`` (set by ``protocol_for``)."""

    limits: ClassVar[ConnectionLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: TimerHandle | None = None
        self._body_timer: TimerHandle | None = None
        self._awaiting_head = True  # no request in progress: the next bytes are a request line and headers
        self._head_bytes = 0  # bytes received towards the head not yet complete
        self._head_size = 0  # size of the head being parsed, from the parser's callbacks
        self._refused = False

    # Connection events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        limit = self.limits.max_connections
        if len(self.connections) > limit:
            self.connections.discard(self)  # a refused connection does not count against the others
            self._refuse(
                503,
                "too_many_connections",
                f"the server has its limit of {limit} open connections; retry shortly",
                {"limit_connections": limit, "setting": "ROADLENS_MAX_CONNECTIONS"},
                (("retry-after", "1"),),
            )
            logger.warning("connection refused: %d connections open (ROADLENS_MAX_CONNECTIONS)", limit)
            return
        # uvicorn starts its keep-alive timer only after a response; a new connection gets the same idle timeout.
        self.timeout_keep_alive_task = self.loop.call_later(self.limits.idle_timeout_s, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._refused:  # never handed to uvicorn's request handling
            self.connections.discard(self)
            self.transport.close()
            return
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:  # type: ignore[override]
        if self._refused:
            self.transport.close()
        return None

    def data_received(self, data: bytes) -> None:
        if self._refused or self.transport.is_closing():
            return  # a refused connection drops what still arrives
        if self._awaiting_head:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timed_out)
            self._head_bytes += len(data)
        super().data_received(data)
        if self._awaiting_head and self._head_bytes > self.limits.max_header_bytes and not self._refused:
            self._refuse_large_head()  # the head is still incomplete after more bytes than it may have

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes that are no HTTP request, in the service's error shape."""
        self._refuse(400, "invalid_http_request", msg, {})

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._head_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._head_size += len(name) + len(value) + 4  # ": " and CRLF

    def on_headers_complete(self) -> None:
        self._cancel(self._head_timer)
        self._head_timer = None
        self._awaiting_head = False
        self._head_bytes = 0
        if self._head_size > self.limits.max_header_bytes:
            self._refuse_large_head()
            return
        super().on_headers_complete()
        self._body_timer = self.loop.call_later(self.limits.body_timeout_s, self._body_timed_out)

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._cancel(self._body_timer)
        self._body_timer = None
        if not self._refused:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Unless a pipelined request has already started, the next bytes begin a new request.
        self._awaiting_head = self.cycle is None or self.cycle.response_complete

    # Timeouts and refusals

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._awaiting_head and not self._refused and not self.transport.is_closing():
            seconds = self.limits.header_timeout_s
            self._refuse(
                408,
                "request_timeout",
                f"the request headers did not arrive within {seconds:g} s",
                {"limit_seconds": seconds, "setting": "ROADLENS_HEADER_TIMEOUT_S"},
            )

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self._refused or self.transport.is_closing():
            return
        if self.pipeline:  # this request waits behind another: its body cannot be read yet
            self._body_timer = self.loop.call_later(self.limits.body_timeout_s, self._body_timed_out)
            return
        cycle = self.cycle
        if cycle is None or cycle.response_started:
            self.transport.close()  # answered already; the rest of the body is not coming in time
            return
        cycle.disconnected = True  # the app's next receive() says the client has gone; its answer is dropped
        cycle.message_event.set()
        seconds = self.limits.body_timeout_s
        self._refuse(
            408,
            "request_timeout",
            f"the request body did not arrive within {seconds:g} s",
            {"limit_seconds": seconds, "setting": "ROADLENS_BODY_TIMEOUT_S"},
        )

    def _refuse_large_head(self) -> None:
        limit = self.limits.max_header_bytes
        self._refuse(
            431,
            "request_header_fields_too_large",
            f"the request line and headers exceed the limit of {limit} bytes",
            {"limit_bytes": limit, "setting": "ROADLENS_MAX_HEADER_BYTES"},
        )

    def _refuse(
        self, status: int, code: str, message: str, detail: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        """Answer ``status`` and close, after reading and dropping what the client still sends for a moment."""
        self._refused = True
        self._cancel_timers()
        self._unset_keepalive_if_required()
        self.transport.write(error_response(status, code, message, detail, headers))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            self._cancel(timer)
        self._head_timer = self._body_timer = None

    @staticmethod
    def _cancel(timer: TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()


def protocol_for(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """A protocol class bound to ``limits`` (uvicorn builds one instance per connection from a class)."""
    return type("RoadLensHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})


def log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's logging configuration, extended to the service's own loggers (model loading, failed batches)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["service"] = {"handlers": ["default"], "level": settings.log_level.upper(), "propagate": False}
    return config


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` / ``uvicorn.Config`` for ``settings`` (everything but the app)."""
    return {
        "host": settings.host,
        "port": settings.port,
        "http": protocol_for(ConnectionLimits.of(settings)),
        "loop": "uvloop",
        "ws": "none",  # the service has no WebSocket endpoint: an upgrade must not leave the guarded protocol
        "timeout_keep_alive": settings.idle_timeout_s,
        "timeout_graceful_shutdown": int(settings.shutdown_timeout_s),
        "log_config": log_config(settings),
        "log_level": settings.log_level,
        "access_log": settings.access_log,
    }
