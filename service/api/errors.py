"""The HTTP edge of the error tree: status codes, headers and the one JSON error body.

Every failure leaves the service as ``{"error": {"code", "message", "detail"}}``: the domain errors of
``service.errors``, FastAPI's own validation errors (422), unknown routes (404) and methods (405), and
finally anything unexpected (500, logged; its text is never shown to the client).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service import errors

logger = logging.getLogger("service.api")

# Most specific first: the first class an error is an instance of decides the status.
STATUS: tuple[tuple[type[errors.RoadLensError], int], ...] = (
    (errors.InvalidImage, 400),
    (errors.Unauthorized, 401),
    (errors.UnknownModel, 404),
    (errors.PayloadTooLarge, 413),
    (errors.UnsupportedMediaType, 415),
    (errors.InvalidParameter, 422),
    (errors.NotApplicable, 422),
    (errors.Overloaded, 429),
    (errors.InferenceFailed, 500),
    (errors.DeadlineExceeded, 504),
    (errors.NotReady, 503),
    (errors.ModelUnavailable, 503),
    (errors.ClientError, 400),
    (errors.ServiceUnavailable, 503),
)
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}


def release_frames(error: BaseException) -> None:
    """Drop the tracebacks of ``error`` and of every exception it was raised from or while handling.

    A traceback holds each frame the error passed through, and so their locals: on the 504 path those are the
    decoded uploads and rendered maps of a request that ran out of time. When one of those frames also refers to
    the error (an ``except ... as`` variable, an error built before it is raised), they form a reference cycle
    that only the cyclic garbage collector frees, and the server process runs it rarely (see
    ``service/__main__.py``): timed-out requests on large images held gigabytes. Once the response is built the
    tracebacks are of no use (500s are logged before this), so they are dropped here, where every error ends.
    """
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending.extend(linked for linked in (current.__cause__, current.__context__) if linked is not None)


def error_response(
    status: int, code: str, message: str, detail: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The uniform error body with its status and headers."""
    body = {"error": {"code": code, "message": message, "detail": detail or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


def status_of(error: errors.RoadLensError) -> int:
    """HTTP status for a domain error."""
    return next((status for cls, status in STATUS if isinstance(error, cls)), 500)


def headers_of(error: errors.RoadLensError) -> dict[str, str]:
    """Headers a client needs to act on the error: when to retry, how to authenticate."""
    if isinstance(error, errors.Overloaded):
        return {"Retry-After": str(max(1, math.ceil(error.retry_after)))}
    if isinstance(error, errors.Unauthorized):
        return {"WWW-Authenticate": 'Bearer realm="roadlens"'}
    return {}


async def domain_error(_request: Request, exc: Exception) -> JSONResponse:
    """Map a ``RoadLensError`` to its status code."""
    assert isinstance(exc, errors.RoadLensError)
    status = status_of(exc)
    if status == 500:  # 503/504 are expected under load or at start-up; a failed batch is not
        logger.error("%s: %s", exc.code, exc.message)
    release_frames(exc)
    return error_response(status, exc.code, exc.message, exc.detail, headers_of(exc))


def _describe(error: dict[str, Any]) -> dict[str, Any]:
    # Keep only JSON-safe parts: the raw input may be bytes or any object.
    ctx = {key: str(value) for key, value in (error.get("ctx") or {}).items()}
    return {"location": [str(part) for part in error.get("loc", ())], "message": error.get("msg", ""), "context": ctx}


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's request validation errors in the uniform shape (422), naming the parameter and accepted values."""
    assert isinstance(exc, RequestValidationError)
    release_frames(exc)
    described = [_describe(e) for e in exc.errors()]
    first = described[0] if described else {"location": [], "message": "invalid request"}
    where = " ".join(first["location"]) or "request"
    message = f"{where}: {first['message']}"
    return error_response(422, "invalid_parameter", message, {"errors": described})


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette's HTTP errors (unknown route, wrong method) in the uniform shape, keeping their headers (Allow)."""
    assert isinstance(exc, StarletteHTTPException)
    release_frames(exc)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "HTTP error"
    return error_response(exc.status_code, code, message, {}, dict(exc.headers or {}))


async def unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    """Last resort: a server fault. Logged with its traceback; the client sees no internals."""
    logger.error("unhandled error", exc_info=exc)
    release_frames(exc)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler above on the app."""
    app.add_exception_handler(errors.RoadLensError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
