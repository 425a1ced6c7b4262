"""Every exception the client raises: one tree, keyed by the server's error codes.

A failed call raises an ``APIError`` subclass chosen by the ``code`` of the server's error body
``{"error": {"code", "message", "detail"}}`` (by the HTTP status when the code is unknown), or a
``TransportError`` when no answer came back at all. Every one of them is a ``RoadLensError``.

    RoadLensError
    ├── TransportError                   no HTTP answer: connection refused or dropped, DNS, TLS
    │   └── Timeout                      the client's timeout passed
    ├── UnexpectedResponse               a success status, but a body this client cannot read
    └── APIError                         the server answered with an error body (status, code, message, detail)
        ├── RequestError                 the request is wrong; sending it again will fail again   (4xx)
        │   ├── InvalidImage             not an image, truncated, malformed multipart            (400)
        │   ├── Unauthorized             API keys are on and none valid was sent                  (401)
        │   ├── NotFound                 unknown model, version or route                          (404)
        │   ├── PayloadTooLarge          body or image over a server limit                        (413)
        │   ├── UnsupportedMediaType     content type or image format not read                    (415)
        │   └── InvalidParameter         a parameter outside its accepted values                  (422)
        │       └── NotApplicable        a method that cannot apply to this model                 (422)
        └── ServiceError                 the request is fine, the server cannot serve it now      (5xx, 429)
            ├── Overloaded               queue full; ``retry_after`` seconds                      (429)
            ├── NotReady                 models loading or warming up, or shutting down           (503)
            ├── DeadlineExceeded         the request's deadline passed on the server              (504)
            └── ServerError              the server failed (a fault on its side)                  (500)
"""

from __future__ import annotations

from typing import Any


class RoadLensError(Exception):
    """Base of every client error."""


class TransportError(RoadLensError):
    """No HTTP answer came back (connection refused or dropped, name resolution, TLS)."""


class Timeout(TransportError):
    """The client's timeout passed before the answer arrived."""


class UnexpectedResponse(RoadLensError):
    """The server said yes but its body is not what this client reads (another server, or another version)."""


class APIError(RoadLensError):
    """The server answered with an error: its HTTP ``status`` and the error body's ``code``, ``message``, ``detail``."""

    def __init__(self, status: int, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail: dict[str, Any] = detail or {}


class RequestError(APIError):
    """The request is wrong (4xx): sending it again unchanged will fail again."""


class InvalidImage(RequestError):
    """The upload is not a readable image, or the multipart body is malformed (400)."""


class Unauthorized(RequestError):
    """API keys are on and no valid key was sent (401)."""


class NotFound(RequestError):
    """Unknown model name or version, or route (404)."""


class PayloadTooLarge(RequestError):
    """The body or the image is over a server limit, named in ``detail`` (413)."""


class UnsupportedMediaType(RequestError):
    """A content type or image format the server does not read (415)."""


class InvalidParameter(RequestError):
    """A parameter outside its accepted values, named in ``message`` and ``detail`` (422)."""


class NotApplicable(InvalidParameter):
    """The explanation method cannot apply to this model (422)."""


class ServiceError(APIError):
    """The request is fine but the server cannot serve it now (429, 5xx)."""


class Overloaded(ServiceError):
    """The server's queue is full (429); ``retry_after`` is the delay it asked for, in seconds."""

    def __init__(
        self, status: int, code: str, message: str, detail: dict[str, Any] | None = None, retry_after: float = 0.0
    ) -> None:
        super().__init__(status, code, message, detail)
        self.retry_after = retry_after


class NotReady(ServiceError):
    """The models are loading or warming up, or the server is shutting down (503)."""


class DeadlineExceeded(ServiceError):
    """The request's deadline passed on the server (504)."""


class ServerError(ServiceError):
    """The server failed while handling the request (500 and other 5xx)."""


# The server's stable error codes (service/errors.py and its HTTP edge) -> the class to raise.
BY_CODE: dict[str, type[APIError]] = {
    "invalid_image": InvalidImage,
    "invalid_multipart": InvalidImage,
    "client_disconnected": RequestError,
    "unauthorized": Unauthorized,
    "unknown_model": NotFound,
    "not_found": NotFound,
    "payload_too_large": PayloadTooLarge,
    "unsupported_media_type": UnsupportedMediaType,
    "invalid_parameter": InvalidParameter,
    "not_applicable": NotApplicable,
    "overloaded": Overloaded,
    "not_ready": NotReady,
    "deadline_exceeded": DeadlineExceeded,
    "inference_failed": ServerError,
    "internal_error": ServerError,
}
# For codes this client does not know yet: the class that the status alone implies.
BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidImage,
    401: Unauthorized,
    404: NotFound,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: InvalidParameter,
    429: Overloaded,
    503: NotReady,
    504: DeadlineExceeded,
}


def error_class(status: int, code: str) -> type[APIError]:
    """The exception class for an error answer: by code, else by status, else by the status family."""
    if code in BY_CODE:
        return BY_CODE[code]
    if status in BY_STATUS:
        return BY_STATUS[status]
    return RequestError if status < 500 else ServerError


def api_error(status: int, code: str, message: str, detail: dict[str, Any], retry_after: float | None) -> APIError:
    """The exception for one error answer."""
    cls = error_class(status, code)
    if issubclass(cls, Overloaded):
        return cls(status, code, message, detail, retry_after=retry_after or 0.0)
    return cls(status, code, message, detail)
