"""OpenAPI fragments shared by the routers: the image request body, binary responses and the error responses."""

from __future__ import annotations

from typing import Any

from service.pipeline.decode import ACCEPTED_IMAGE_TYPES
from service.schemas import ErrorResponse

IMAGE_RULES = (
    "Images: PNG, JPEG (any colour mode, CMYK included), WebP, BMP or TIFF, of any size; the format is sniffed "
    "from the bytes. EXIF orientation is applied. Every colour mode becomes RGB: transparent images are "
    "composited over black, grayscale is repeated over the channels, 16-bit images are scaled by 1/65535. "
    "Multi-frame files give their first frame. The image is then resized to the model input (96 x 96 for the "
    "shipped model) with Pillow's bilinear filter, antialiased when shrinking."
)

ERRORS: dict[int, dict[str, Any]] = {
    400: {"description": "Not an image, an empty or truncated image, or a malformed multipart body."},
    401: {
        "description": "API keys are on and no valid key was sent.",
        "headers": {"WWW-Authenticate": {"description": "Always `Bearer`.", "schema": {"type": "string"}}},
    },
    404: {"description": "Unknown model name or version."},
    413: {"description": "Body over ROADLENS_MAX_BODY_BYTES or image over ROADLENS_MAX_IMAGE_PIXELS (limit named)."},
    415: {"description": "Content type or image format not accepted (the accepted ones are named)."},
    422: {"description": "A parameter outside its accepted values (named in the message and detail)."},
    429: {
        "description": "The batch queue is full; retry after the given delay.",
        "headers": {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}},
    },
    503: {"description": "Not ready: the models are loading or warming up, or the service is shutting down."},
    504: {"description": "The request's deadline passed (ROADLENS_REQUEST_TIMEOUT_S or X-Request-Timeout-Ms)."},
}
INFERENCE_ERRORS = (400, 401, 404, 413, 415, 422, 429, 503, 504)


MODEL_HEADERS = {
    "X-Model-Name": {"description": "Name of the model that answered.", "schema": {"type": "string"}},
    "X-Model-Version": {"description": "Version of the model that answered.", "schema": {"type": "integer"}},
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for ``codes``, each with the uniform error body."""
    return {code: {"model": ErrorResponse, **ERRORS[code]} for code in codes}


def binary(media_type: str, description: str) -> dict[str, Any]:
    """An OpenAPI media type entry for a binary body."""
    return {media_type: {"schema": {"type": "string", "contentMediaType": media_type, "description": description}}}


def image_body(multiple: bool) -> dict[str, Any]:
    """``openapi_extra`` documenting the image upload: multipart field ``file`` or a raw ``image/*`` body."""
    one = {"type": "string", "contentMediaType": "application/octet-stream"}
    field = (
        {"type": "array", "items": one, "minItems": 1, "description": "One or more images: repeat the field."}
        if multiple
        else {**one, "description": "Exactly one image."}
    )
    multipart = {"schema": {"type": "object", "properties": {"file": field}, "required": ["file"]}}
    raw = {media: {"schema": {"type": "string", "contentMediaType": media}} for media in ACCEPTED_IMAGE_TYPES}
    description = (
        "Send the image(s) as multipart form field `file`"
        + (" (repeat the field for several images)" if multiple else "")
        + ", or one image as the raw body with its `image/*` content type. "
        + IMAGE_RULES
    )
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"multipart/form-data": multipart, **raw},
        }
    }
