"""Messages on a byte stream: a small JSON header, then the raw bytes of the arrays it describes.

A frame is ``u32 header length | u32 body length`` (little-endian), the header (JSON, written by orjson), and the
body: every array's bytes back to back, in C order. The header lists each array as ``[dtype, shape, offset,
nbytes]`` under ``"arrays"``; the rest of the header refers to arrays by their index in that list. The receiver
reads arrays as views of the received body: no pickling, and no copy beyond the socket's.

Only plain numeric dtypes travel (booleans, integers, floats), so a frame can never ask the reader to build an
object. Both ends are processes of one server, but a frame is still checked before it is trusted.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import orjson

logger = logging.getLogger(__name__)

PREFIX = struct.Struct("<II")
MAX_HEADER_BYTES = 64 * 1024 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024 * 1024 - 1
NUMERIC_KINDS = frozenset("biuf")


class FrameError(ValueError):
    """A frame that cannot be read: the stream is broken, and the connection must be dropped."""


class Outgoing:
    """One frame being built: ``array()`` adds an array and returns its index, ``frame()`` seals it."""

    def __init__(self) -> None:
        self._specs: list[list[Any]] = []
        self._buffers: list[memoryview] = []
        self._size = 0

    def array(self, values: np.ndarray) -> int:
        """Add ``values`` (any shape, a numeric dtype) to the body; its index for the header."""
        values = np.ascontiguousarray(values)
        if values.dtype.kind not in NUMERIC_KINDS:
            raise TypeError(f"only numeric arrays travel, got {values.dtype}")
        self._specs.append([values.dtype.str, list(values.shape), self._size, values.nbytes])
        if values.nbytes:
            self._buffers.append(values.data.cast("B"))
        self._size += values.nbytes
        return len(self._specs) - 1

    def frame(self, header: dict[str, Any]) -> list[bytes | memoryview]:
        """The frame's pieces, to be written in order (``transport.writelines``)."""
        head = orjson.dumps({**header, "arrays": self._specs})
        return [PREFIX.pack(len(head), self._size), head, *self._buffers]


def frame(header: dict[str, Any]) -> list[bytes | memoryview]:
    """A frame without arrays."""
    return Outgoing().frame(header)


@dataclass(frozen=True)
class Incoming:
    """A received frame: its header, and its arrays read as views of ``body``."""

    header: dict[str, Any]
    body: bytes

    def array(self, index: int) -> np.ndarray:
        """The array the header lists at ``index`` (read-only, a view of the body)."""
        try:
            dtype_str, shape, offset, nbytes = self.header["arrays"][index]
            dtype = np.dtype(dtype_str)
        except (IndexError, KeyError, TypeError, ValueError) as error:
            raise FrameError(f"array {index!r} is not described: {error}") from None
        if dtype.kind not in NUMERIC_KINDS or offset < 0 or offset + nbytes > len(self.body):
            raise FrameError(f"array {index} ({dtype_str}, {nbytes} bytes at {offset}) does not fit the frame")
        values = np.frombuffer(self.body, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset)
        return values.reshape(shape)


class FrameReader:
    """Cuts a byte stream into frames, whatever the chunks it arrives in."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Incoming]:
        """Every frame completed by ``data``, in order; ``FrameError`` when the stream is not frames."""
        self._buffer += data
        frames: list[Incoming] = []
        start = 0
        while len(self._buffer) - start >= PREFIX.size:
            head_len, body_len = PREFIX.unpack_from(self._buffer, start)
            if head_len > MAX_HEADER_BYTES or body_len > MAX_BODY_BYTES:
                raise FrameError(f"frame of {head_len} + {body_len} bytes is over the limits")
            end = start + PREFIX.size + head_len + body_len
            if len(self._buffer) < end:
                break
            head_end = start + PREFIX.size + head_len
            header = _header(self._buffer[start + PREFIX.size : head_end])
            frames.append(Incoming(header, bytes(self._buffer[head_end:end])))
            start = end
        if start:
            del self._buffer[:start]
        return frames


def _header(raw: bytearray) -> dict[str, Any]:
    try:
        header = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise FrameError(f"frame header is not JSON: {error}") from None
    if not isinstance(header, dict):
        raise FrameError("frame header is not a JSON object")
    return header


class FramedProtocol(asyncio.Protocol):
    """A stream connection that speaks frames: ``on_frame`` for each one received, ``send`` to answer.

    Frames sent within one event-loop turn leave in one write (the results of one device batch, the requests
    of one busy turn); a connection that receives a broken frame is closed.
    """

    def __init__(self) -> None:
        self._reader = FrameReader()
        self._transport: asyncio.Transport | None = None
        self._pending: list[bytes | memoryview] = []
        self._flush_scheduled = False

    def on_frame(self, incoming: Incoming) -> None:
        """Handle one received frame."""
        raise NotImplementedError

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._pending = []

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._reader.feed(data)
        except FrameError as error:
            logger.error("closing a connection that sent a broken frame: %s", error)
            self.close()
            return
        for incoming in frames:
            self.on_frame(incoming)

    @property
    def connected(self) -> bool:
        """True until the connection is lost or closed."""
        return self._transport is not None and not self._transport.is_closing()

    def send(self, pieces: Sequence[bytes | memoryview]) -> None:
        """Queue a frame's pieces (``Outgoing.frame``) for this turn's write; dropped once disconnected."""
        if self._transport is None:
            return
        self._pending.extend(pieces)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def close(self) -> None:
        """Write what is queued, then close."""
        if self._transport is not None:
            self._flush()
            self._transport.close()

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._transport is not None and self._pending:
            self._transport.writelines(self._pending)
        self._pending = []
