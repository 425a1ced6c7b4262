"""Image uploads out of a request body: multipart form field ``file`` (repeatable) or a raw ``image/*`` body.

The body limit is enforced while the body streams in: a declared ``Content-Length`` over the limit is refused
before reading anything, and a chunked body is cut off at the first chunk that passes the limit, so an
oversized upload is never buffered whole. Multipart parsing then runs over the (bounded) bytes in memory, and
stops at the first part over ``max_parts`` (413), or a part with more than ``MAX_PART_HEADERS`` header fields
or a header field over ``MAX_PART_HEADER_BYTES`` (400): python-multipart is pure Python, and 384,000 tiny
fields in a 20 MB body took it 5.6 s. A body over ``INLINE_MULTIPART_BYTES`` is parsed in the image thread
pool, so that even a bounded parse of a large body does not hold up the event loop; a one-tile upload (about
20 kB) is parsed where it is, which costs less than the hop to a thread.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from fastapi import Request
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import ClientDisconnect

from service.errors import (
    ClientError,
    InvalidImage,
    InvalidParameter,
    PayloadTooLarge,
    RoadLensError,
    UnsupportedMediaType,
)
from service.pipeline.decode import ACCEPTED_IMAGE_TYPES

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FIELD = "file"
ACCEPTED_CONTENT_TYPES = ("multipart/form-data", *ACCEPTED_IMAGE_TYPES)
MAX_PART_HEADERS = 16
MAX_PART_HEADER_BYTES = 8 * 1024
INLINE_MULTIPART_BYTES = 64 * 1024
LISTED_FIELDS = 20  # field names an error shows at most


def too_large(limit: int) -> PayloadTooLarge:
    """The 413 for a body over ``limit`` bytes."""
    return PayloadTooLarge(
        f"request body exceeds the limit of {limit} bytes",
        detail={"limit_bytes": limit, "setting": "ROADLENS_MAX_BODY_BYTES"},
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it is known to pass ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientError("the client disconnected while sending the body", code="client_disconnected") from None
    return b"".join(chunks)


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)


class _PartCollector:
    """python-multipart callbacks that keep every part in memory (the body is already bounded), and stop the
    parse as soon as the body has more parts, or a part more or longer header fields, than allowed."""

    def __init__(self, max_parts: int) -> None:
        self.parts: list[_Part] = []
        self._max_parts = max_parts
        self._name = b""
        self._value = b""

    def callbacks(self) -> MultipartCallbacks:
        """The callbacks python-multipart calls while parsing."""
        return {
            "on_part_begin": self._on_part_begin,
            "on_part_data": self._on_part_data,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
        }

    def _on_part_begin(self) -> None:
        if len(self.parts) >= self._max_parts:
            raise PayloadTooLarge(
                f"the multipart body has more than {self._max_parts} parts",
                detail={"limit_parts": self._max_parts, "setting": "ROADLENS_MAX_FORM_PARTS"},
            )
        self.parts.append(_Part())

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.parts[-1].chunks.append(data[start:end])

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]
        self._check_header()

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]
        self._check_header()

    def _on_header_end(self) -> None:
        headers = self.parts[-1].headers
        headers[self._name.strip().lower()] = self._value.strip()
        self._name, self._value = b"", b""
        if len(headers) > MAX_PART_HEADERS:
            raise InvalidImage(
                f"malformed multipart body: a part has more than {MAX_PART_HEADERS} header fields",
                code="invalid_multipart",
                detail={"limit_headers": MAX_PART_HEADERS},
            )

    def _check_header(self) -> None:
        if len(self._name) + len(self._value) > MAX_PART_HEADER_BYTES:
            raise InvalidImage(
                f"malformed multipart body: a part header field is longer than {MAX_PART_HEADER_BYTES} bytes",
                code="invalid_multipart",
                detail={"limit_bytes": MAX_PART_HEADER_BYTES},
            )


def parse_multipart(body: bytes, boundary: bytes, max_parts: int) -> list[bytes]:
    """The contents of every ``file`` part, in order; other fields are ignored."""
    collector = _PartCollector(max_parts)
    try:
        parser = MultipartParser(boundary, collector.callbacks())
        parser.write(body)
        parser.finalize()
    except RoadLensError:  # a limit, raised from a callback
        raise
    except Exception as error:  # python-multipart's errors and anything it raises on hostile bytes
        raise InvalidImage(f"malformed multipart body: {error}", code="invalid_multipart") from None
    if parser.state != MultipartState.END:  # the parser accepts a body cut short; we do not
        raise InvalidImage("malformed multipart body: no closing boundary", code="invalid_multipart")
    names = []
    files = []
    for part in collector.parts:
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("latin-1")
        names.append(name)
        if name == FIELD:
            files.append(b"".join(part.chunks))
    if not files:
        raise InvalidParameter(
            f"the multipart body has no '{FIELD}' field; send each image as form field '{FIELD}'",
            detail={"accepted_fields": [FIELD], "received_fields": sorted(set(names))[:LISTED_FIELDS]},
        )
    return files


async def read_images(request: Request, limit: int, max_parts: int, executor: Executor) -> list[bytes]:
    """The uploaded images' bytes, from a multipart or a raw ``image/*`` body (415 for anything else).

    ``limit``: body bytes; ``max_parts``: parts of a multipart body; ``executor``: where large bodies are parsed.
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    media = content_type.decode("latin-1").lower()
    if media == "multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise InvalidImage("multipart body without a boundary parameter", code="invalid_multipart")
        body = await read_body(request, limit)
        if len(body) <= INLINE_MULTIPART_BYTES:
            return parse_multipart(body, boundary, max_parts)
        parse = partial(parse_multipart, body, boundary, max_parts)
        return await asyncio.get_running_loop().run_in_executor(executor, parse)
    if media.startswith("image/"):
        # The format is sniffed from the bytes later; an image/* type we do not read gets its 415 there.
        return [await read_body(request, limit)]
    raise UnsupportedMediaType(
        f"unsupported content type {media or '(none)'!r}; send multipart/form-data with field '{FIELD}', "
        "or the image itself with an image/* content type",
        detail={"content_type": media, "accepted": list(ACCEPTED_CONTENT_TYPES)},
    )
