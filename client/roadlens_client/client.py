"""``Client``: the blocking client. ``roadlens_client.aio.AsyncClient`` has the same methods, awaitable.

    with Client("http://127.0.0.1:8000", api_key="...") as roadlens:
        result = roadlens.predict("tile.png")
        print(result.predictions[0].probability)

Every method sends one request (retried on 429 and 503) and returns a typed result or raises an exception
from ``roadlens_client.errors``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TypeVar

import httpx

from roadlens_client import calls
from roadlens_client.base import (
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    as_list,
    failure,
    http_options,
    parsed,
    transport_error,
)
from roadlens_client.calls import Call, ImageInput, ParamValue, Size
from roadlens_client.errors import APIError, TransportError
from roadlens_client.models import (
    ClassModel,
    Explanation,
    FeatureMaps,
    Health,
    MethodCatalog,
    ModelInfo,
    Picture,
    PredictResult,
    Readiness,
    Segmentation,
    VBPResult,
)
from roadlens_client.retry import NO_RETRY, RetryPolicy

T = TypeVar("T")


class Client:
    """A RoadLens server at ``base_url``.

    ``api_key`` is sent as ``Authorization: Bearer``; ``timeout`` (seconds, or an ``httpx.Timeout``) bounds each
    attempt; ``retry`` says how 429 and 503 answers are retried. ``transport`` replaces httpx's network
    transport (for tests, or ``httpx.HTTPTransport(retries=...)``). Use it as a context manager, or ``close()``.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(**http_options(base_url, api_key, timeout, headers), transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def send(self, call: Call[T], retry: RetryPolicy | None = None) -> T:
        """Send ``call``, retrying refusals per ``retry`` (default: ``self.retry``); raises a ``RoadLensError``."""
        policy = retry or self.retry
        attempt = 0
        while True:
            try:
                response = self._http.send(call.request(self._http))
            except httpx.TransportError as exc:
                raise transport_error(exc, self.base_url) from exc
            if response.is_success:
                return parsed(call, response)
            error, delay = failure(response, attempt, policy)
            if delay is None:
                raise error
            time.sleep(delay)
            attempt += 1

    def predict(
        self, images: ImageInput | Sequence[ImageInput], *, model: str | None = None, version: int | None = None
    ) -> PredictResult:
        """Probabilities for one image or several (one request; the server batches them)."""
        return self.send(calls.predict(as_list(images), model, version))

    def features(
        self,
        image: ImageInput,
        *,
        layers: Sequence[str] | None = None,
        model: str | None = None,
        version: int | None = None,
    ) -> FeatureMaps:
        """Post-ReLU feature maps of every conv block (or of ``layers``), as ``C x H x W`` arrays."""
        return self.send(calls.feature_maps(image, layers, model, version))

    def features_grid(
        self,
        image: ImageInput,
        *,
        layers: Sequence[str] | None = None,
        model: str | None = None,
        version: int | None = None,
    ) -> Picture:
        """The feature maps drawn as one PNG: per layer, a grid of its channels."""
        return self.send(calls.feature_grid(image, layers, model, version))

    def visualbackprop(
        self,
        image: ImageInput,
        *,
        normalize_overlap: bool = False,
        size: Size = "model",
        layers: bool = False,
        model: str | None = None,
        version: int | None = None,
    ) -> VBPResult:
        """The VisualBackProp mask as an array in [0, 1], the probabilities, and with ``layers`` every level."""
        return self.send(calls.visualbackprop(image, normalize_overlap, size, layers, model, version))

    def visualbackprop_png(
        self,
        image: ImageInput,
        *,
        overlay: bool = False,
        normalize_overlap: bool = False,
        size: Size = "model",
        model: str | None = None,
        version: int | None = None,
    ) -> Picture:
        """The VisualBackProp mask as a grayscale PNG, or with ``overlay`` as a heat map over the image."""
        return self.send(calls.visualbackprop_picture(image, overlay, normalize_overlap, size, model, version))

    def explain(
        self,
        method: str,
        image: ImageInput,
        *,
        target: str | None = None,
        size: Size = "model",
        raw: bool = False,
        model: str | None = None,
        version: int | None = None,
        **params: ParamValue,
    ) -> Explanation:
        """One method's map as an array (``methods()`` lists them); ``params`` are the method's own parameters.

        ``target``: the label explained (default ``road``) or ``not_road``; ``raw``: the method's own values
        instead of the [0, 1] display map.
        """
        return self.send(calls.explanation(method, image, target, size, raw, model, version, params))

    def explain_png(
        self,
        method: str,
        image: ImageInput,
        *,
        overlay: bool = False,
        target: str | None = None,
        size: Size = "model",
        model: str | None = None,
        version: int | None = None,
        **params: ParamValue,
    ) -> Picture:
        """One method's map as a grayscale PNG, or with ``overlay`` as a heat map over the image."""
        return self.send(calls.explanation_picture(method, image, overlay, target, size, model, version, params))

    def segment(
        self,
        image: ImageInput,
        *,
        size: Size = "model",
        gsd_m: float | None = None,
        model: str | None = None,
        version: int | None = None,
    ) -> Segmentation:
        """The road mask of one image, cut from the model's own evidence (empty when the model calls the tile
        road-free), with its connected pieces and their skeleton lengths; in metres too given ``gsd_m`` (metres per
        pixel of the image)."""
        return self.send(calls.segmentation(image, size, gsd_m, model, version))

    def segment_png(
        self,
        image: ImageInput,
        *,
        overlay: bool = False,
        size: Size = "model",
        model: str | None = None,
        version: int | None = None,
    ) -> Picture:
        """The road mask as a 0 / 255 PNG, or with ``overlay`` the roads painted over the image."""
        return self.send(calls.segmentation_picture(image, overlay, size, model, version))

    def class_model(
        self,
        *,
        target: str | None = None,
        steps: int | None = None,
        seed: int | None = None,
        layer: str | None = None,
        channel: int | None = None,
        model: str | None = None,
        version: int | None = None,
    ) -> ClassModel:
        """The image the model scores highest for ``target`` (``road``, the default, or ``not_road``), or that
        raises ``channel`` of conv block ``layer`` most; the same seed gives the same image."""
        return self.send(calls.class_model(target, steps, seed, layer, channel, model, version))

    def class_model_png(
        self,
        *,
        target: str | None = None,
        steps: int | None = None,
        seed: int | None = None,
        layer: str | None = None,
        channel: int | None = None,
        model: str | None = None,
        version: int | None = None,
    ) -> Picture:
        """The class-model image as an 8-bit RGB PNG."""
        return self.send(calls.class_model_picture(target, steps, seed, layer, channel, model, version))

    def methods(self, *, model: str | None = None, version: int | None = None) -> MethodCatalog:
        """The explanation methods, their parameters and limits, and the accepted targets (for one model)."""
        return self.send(calls.methods(model, version))

    def models(self) -> list[ModelInfo]:
        """The loaded model versions with their manifests."""
        return self.send(calls.models())

    def health(self) -> Health:
        """Liveness: the server process answers."""
        return self.send(calls.health())

    def readiness(self) -> Readiness:
        """Readiness: models loaded and warmed up (``NotReady`` otherwise)."""
        return self.send(calls.readiness())

    def wait_until_ready(self, timeout: float = 60.0, interval: float = 0.2) -> Readiness:
        """Poll ``/readyz`` until ready; the last error once ``timeout`` seconds have passed."""
        give_up = time.monotonic() + timeout
        while True:
            try:
                return self.send(calls.readiness(), NO_RETRY)
            except (APIError, TransportError):
                if time.monotonic() >= give_up:
                    raise
            time.sleep(interval)
