"""What the sync and async clients share besides the calls: connection options, retries, transport errors."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import httpx
import numpy as np
from PIL import Image

from roadlens_client.calls import Call, ImageInput, error_of
from roadlens_client.errors import APIError, Timeout, TransportError, UnexpectedResponse
from roadlens_client.retry import RetryPolicy, parse_retry_after

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
USER_AGENT = "roadlens-client/0.1.0"


def http_options(
    base_url: str, api_key: str | None, timeout: float | httpx.Timeout, headers: Mapping[str, str] | None
) -> dict[str, Any]:
    """Keyword arguments for ``httpx.Client`` / ``httpx.AsyncClient``: base URL, auth header, timeout."""
    sent = {"User-Agent": USER_AGENT, **(headers or {})}
    if api_key:
        sent["Authorization"] = f"Bearer {api_key}"
    return {"base_url": base_url.rstrip("/"), "headers": sent, "timeout": timeout}


def as_list(images: ImageInput | Sequence[ImageInput]) -> list[ImageInput]:
    """One image or several as a list (a path string is one image, not a sequence of characters)."""
    if isinstance(images, str | bytes | os.PathLike | Image.Image | np.ndarray):
        return [images]
    return list(images)


def failure(response: httpx.Response, attempt: int, policy: RetryPolicy) -> tuple[APIError, float | None]:
    """The error an answer carries, and the delay before retrying it (None: raise it now)."""
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    return error_of(response), policy.delay(attempt, response.status_code, retry_after)


def parsed(call: Call[T], response: httpx.Response) -> T:
    """The typed result of a successful answer; ``UnexpectedResponse`` when its body cannot be read."""
    try:
        return call.parse(response)
    except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as error:  # pydantic, JSON, NPZ, PNG
        media = response.headers.get("content-type", "no content type")
        raise UnexpectedResponse(f"cannot read the answer of {call.method} {call.path} ({media}): {error}") from error


def transport_error(error: httpx.TransportError, base_url: str) -> TransportError:
    """httpx's failure to get any answer, as the client's own exception naming the server."""
    if isinstance(error, httpx.TimeoutException):
        return Timeout(f"no answer from {base_url} within the timeout ({type(error).__name__})")
    return TransportError(f"cannot reach {base_url}: {error or type(error).__name__}")
