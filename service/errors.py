"""The service's domain errors: one small tree, raised anywhere below the HTTP edge.

Only ``service/api`` maps these classes to HTTP status codes and the uniform JSON body
``{"error": {"code": ..., "message": ..., "detail": {...}}}``. Everything a client can cause is one of
these; anything else reaching the edge is a server fault (500, logged, never shown in detail).

    RoadLensError
    ├── ClientError                      the request itself is wrong
    │   ├── InvalidImage                 not an image, truncated, empty                         (400)
    │   ├── PayloadTooLarge              body or pixel count over a limit                       (413)
    │   ├── UnsupportedMediaType         a content type or image format we do not read         (415)
    │   ├── InvalidParameter             a query/form/header value outside what is accepted    (422)
    │   ├── NotApplicable                a method that cannot apply to this model              (422)
    │   ├── UnknownModel                 no such model name or version                          (404)
    │   └── Unauthorized                 API keys are on and none valid was given               (401)
    └── ServiceUnavailable               the request is fine, the service cannot take it now
        ├── Overloaded                   the queue is full; carries retry_after seconds        (429)
        ├── NotReady                     models not loaded / warmed up, or shutting down       (503)
        ├── ModelUnavailable             that version is in the store but could not be loaded  (503)
        ├── DeadlineExceeded             the request's deadline passed before it finished      (504)
        └── InferenceFailed              the device batch failed (a server fault)              (500)
"""

from __future__ import annotations

from typing import Any


class RoadLensError(Exception):
    """Base of every domain error: a stable machine-readable ``code``, a human ``message``, a ``detail`` dict."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail: dict[str, Any] = detail or {}


class ClientError(RoadLensError):
    """Something in the request is wrong; sending it again unchanged will fail again."""


class InvalidImage(ClientError):
    code = "invalid_image"


class PayloadTooLarge(ClientError):
    code = "payload_too_large"


class UnsupportedMediaType(ClientError):
    code = "unsupported_media_type"


class InvalidParameter(ClientError):
    code = "invalid_parameter"


class NotApplicable(ClientError):
    code = "not_applicable"


class UnknownModel(ClientError):
    code = "unknown_model"


class Unauthorized(ClientError):
    code = "unauthorized"


class ServiceUnavailable(RoadLensError):
    """The request is acceptable but cannot be served now."""


class Overloaded(ServiceUnavailable):
    code = "overloaded"

    def __init__(self, message: str, *, retry_after: float, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class NotReady(ServiceUnavailable):
    code = "not_ready"


class ModelUnavailable(ServiceUnavailable):
    code = "model_unavailable"


class DeadlineExceeded(ServiceUnavailable):
    code = "deadline_exceeded"


class InferenceFailed(ServiceUnavailable):
    code = "inference_failed"
