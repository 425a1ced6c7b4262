"""The engine: what the HTTP edge calls to run models.

``start()`` scans the store, loads and verifies every version on the device (a version that cannot be loaded is
left out and reported: ``models.py``), warms the default model up at the batch sizes it will see, and starts
each version's batch queues; only then is it ``ready``. ``reload()`` scans again while serving: new versions
are loaded and warmed up before they are served, failed ones retried, removed ones drained and dropped.
``infer()`` enqueues all images of one HTTP request together and waits for their results.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from service.config import Settings
from service.engine.artifact import LoadedModel
from service.engine.class_models import ResultCache, make_class_model, validate_class_model
from service.engine.device import default_explain_batch, default_forward_batch, resolve_device
from service.engine.explainer import validate_explain
from service.engine.memory import keep_freed_memory
from service.engine.models import ModelSet, load_model_set
from service.engine.queues import ModelQueues, QueueConfig
from service.engine.types import (
    ClassModelRequest,
    ClassModelResult,
    ExplainRequest,
    ExplainResult,
    InferenceRequest,
    InferenceResult,
    ModelInfo,
    ModelKey,
)
from service.engine.warmup import warm_up
from service.engine.worker import DeviceWorker
from service.errors import InvalidParameter, NotReady, UnknownModel
from service.observability.metrics import Metrics

logger = logging.getLogger(__name__)
IMAGE_TYPES = (np.dtype(np.uint8), np.dtype(np.float32))


@dataclass(frozen=True)
class EngineConfig:
    """How the engine loads models and batches requests."""

    model_store: Path
    default_model: str | None = None  # None: the only model, or alphabetically first
    device: str = "auto"  # "auto" (cuda if available else cpu) | "cpu" | "cuda" | "cuda:N"
    max_batch_size: int = 32
    max_wait_ms: float = 0.0
    max_queue: int = 1024  # items per model; 0 = unbounded
    warmup: bool = True
    torch_threads: int | None = None  # None: torch default
    explain_max_batch: int | None = None  # forward passes per device batch of an explanation; None: by device
    forward_max_batch: int | None = None  # images per inference forward pass; None: by device

    @staticmethod
    def from_settings(settings: Settings) -> EngineConfig:
        """The engine's part of the service settings."""
        return EngineConfig(
            model_store=settings.model_store,
            default_model=settings.default_model,
            device=settings.device,
            max_batch_size=settings.max_batch_size,
            max_wait_ms=settings.max_wait_ms,
            max_queue=settings.max_queue,
            warmup=settings.warmup,
            torch_threads=settings.torch_threads,
            explain_max_batch=settings.explain_max_batch,
            forward_max_batch=settings.forward_max_batch,
        )


def build_engine(settings: Settings, metrics: Metrics) -> Engine:
    """The engine ``settings`` describe, with glibc told to keep freed memory when they say so (CPU passes)."""
    if settings.keep_freed_memory:
        keep_freed_memory()
    return Engine(EngineConfig.from_settings(settings), metrics)


class Engine:
    """Loads the store's models on one device and serves batched inference from one worker thread."""

    def __init__(self, config: EngineConfig, metrics: Metrics) -> None:
        self.config = config
        self._metrics = metrics
        self._device = resolve_device(config.device)
        self._explain_max_batch = config.explain_max_batch or default_explain_batch(self._device)
        self._worker: DeviceWorker | None = None
        self._set: ModelSet | None = None
        self._queues: dict[ModelKey, ModelQueues] = {}
        self._reloading = asyncio.Lock()
        self._class_models: ResultCache[tuple[ModelKey, ClassModelRequest], ClassModelResult] = ResultCache()
        self._ready = False
        self._started = False
        self._failure: str | None = None
        # Told (model, queue, full, retry_after_s) whenever a queue fills or drains: the engine process tells
        # the front-ends, which then refuse before reading a body.
        self.on_full: Callable[[ModelKey, str, bool, int], None] | None = None

    @property
    def failure(self) -> str | None:
        """Why ``start()`` failed (the store cannot be served), or None."""
        return self._failure

    @property
    def ready(self) -> bool:
        """True once the models are loaded and warmed up, until ``stop()``."""
        return self._ready

    @property
    def explain_max_batch(self) -> int:
        """Most forward passes per device batch of an explanation (the setting, or the device's default)."""
        return self._explain_max_batch

    @property
    def device(self) -> str:
        """The device the models run on, e.g. ``"cpu"`` or ``"cuda:0"``."""
        return str(self._device)

    async def connect(self) -> None:
        """Nothing to reach: the engine is in this process."""

    async def start(self) -> None:
        """Scan, load, verify and warm up the store's models, then start their queues and become ready.

        Raises ``ModelStoreError`` when the store is missing or empty or no version of the default model loads
        (``failure`` then says why). An engine starts once; build a new one to start again.
        """
        if self._started:
            raise RuntimeError("the engine was already started")
        self._started = True
        forward_max_batch = self.config.forward_max_batch or default_forward_batch(self._device)
        worker = DeviceWorker(self._device, self.config.torch_threads, forward_max_batch)
        try:
            model_set = await load_model_set(self.config.model_store, self.config.default_model, worker)
            await self._warm_up(worker, model_set, model_set.models)
        except BaseException as error:  # failed or cancelled: do not block the event loop on the job in flight
            worker.close(wait=False)
            if isinstance(error, Exception):
                self._failure = str(error)
            raise
        self._worker = worker
        self._switch_to(model_set)
        self._ready = True
        logger.info("engine ready on %s with %s", self.device, _names(model_set.models))

    async def reload(self) -> None:
        """Scan the store again: load and warm up new versions (and those that failed before), then serve
        them; stop serving versions whose folder is gone. Loaded versions are kept as they are."""
        async with self._reloading:
            if not self._ready or self._worker is None or self._set is None:
                raise NotReady("the models are not loaded yet, or the service is shutting down")
            old = self._set
            new = await load_model_set(self.config.model_store, self.config.default_model, self._worker, old.models)
            added = {key: model for key, model in new.models.items() if key not in old.models}
            await self._warm_up(self._worker, new, added)
            removed = self._switch_to(new)
            await asyncio.gather(*(queues.stop() for queues in removed))  # they finish what they hold
            logger.info("models reloaded: added %s, removed %s", _names(added), _names(q.model.key for q in removed))

    async def stop(self) -> None:
        """Stop taking work (``NotReady``), finish everything queued, then end the worker thread."""
        self._ready = False
        await asyncio.gather(*(queues.stop() for queues in self._queues.values()), self._class_models.close())
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def models(self) -> list[ModelInfo]:
        """Every loaded model version, sorted by name then version."""
        return self._model_set().catalogue.infos()

    def unavailable(self) -> dict[ModelKey, str]:
        """Versions in the store that could not be loaded, with why."""
        return dict(self._model_set().problems)

    def admit(self, key: ModelKey, queue: str) -> None:
        """``Overloaded`` (429) when the model's ``queue`` ("forward" or "explain") is full; else nothing."""
        queues = self._queues.get(key)
        if queues is not None:
            queues.admit(queue)

    def resolve(self, name: str | None, version: int | None) -> ModelInfo:
        """The model version a request names (None: the default name / the newest loaded version).

        Raises ``InvalidParameter`` for a malformed name or version, ``UnknownModel`` for one not in the store,
        ``ModelUnavailable`` for one in the store that could not be loaded.
        """
        catalogue = self._model_set().catalogue
        return catalogue.info(catalogue.resolve(name, version))

    async def infer(
        self, key: ModelKey, requests: Sequence[InferenceRequest], deadline: float | None = None
    ) -> list[InferenceResult]:
        """Results for ``requests`` (one HTTP request's images, queued together), in order.

        ``deadline`` is absolute ``time.monotonic()``. Raises ``NotReady``, ``UnknownModel``,
        ``InvalidParameter`` (wrong image shape, unknown feature layer), ``Overloaded``, ``DeadlineExceeded``,
        ``InferenceFailed``.
        """
        queues = self._queues_of(key)
        for request in requests:
            _validate(queues.model, request)
        return await queues.infer(requests, deadline)

    async def explain(
        self, key: ModelKey, requests: Sequence[ExplainRequest], deadline: float | None = None
    ) -> list[ExplainResult]:
        """Explanations for ``requests``, batched with other clients' in the model's explanation queue.

        Parameters must already be resolved (``explain.registry.resolve_params``). Raises like ``infer``.
        """
        queues = self._queues_of(key)
        for request in requests:
            _check_image(queues.model, request.image)
            validate_explain(queues.model, request)
        return await queues.explain(requests, deadline)

    async def class_model(self, key: ModelKey, request: ClassModelRequest) -> ClassModelResult:
        """The class-model image for ``request`` (``explain/class_model.py``): made in the device worker in slices
        of steps, between other batches, and cached per model version and request.

        Raises ``NotReady``, ``UnknownModel``, ``InvalidParameter`` (a target, layer or channel the model does not
        have).
        """
        model = self._queues_of(key).model
        validate_class_model(model, request)
        assert self._worker is not None  # a loaded model means a started engine
        make = partial(make_class_model, self._worker, model, request, self._explain_max_batch)
        return await self._class_models.get((key, request), make)

    def _queues_of(self, key: ModelKey) -> ModelQueues:
        if not self._ready:
            raise NotReady("the models are not loaded yet, or the service is shutting down")
        queues = self._queues.get(key)
        if queues is None:
            raise UnknownModel(f"model {key.name}:{key.version} is not loaded", detail={"model": key.name})
        return queues

    def _model_set(self) -> ModelSet:
        if self._set is None:
            raise NotReady("the models are not loaded yet")
        return self._set

    async def _warm_up(self, worker: DeviceWorker, model_set: ModelSet, models: dict[ModelKey, LoadedModel]) -> None:
        if self.config.warmup and models:
            await warm_up(worker, models, model_set.catalogue.default_key, self.config.max_batch_size)

    def _switch_to(self, model_set: ModelSet) -> list[ModelQueues]:
        """Serve ``model_set``: queues for its new versions; the queues of versions it no longer has are
        returned, to be stopped."""
        assert self._worker is not None
        config = QueueConfig(
            self.config.max_batch_size, self.config.max_wait_ms, self.config.max_queue, self._explain_max_batch
        )
        for key, model in model_set.models.items():
            if key not in self._queues:
                metrics = self._metrics.for_model(key.name, key.version)
                self._queues[key] = ModelQueues(model, self._worker, config, metrics, self._full_listener(key))
        removed = [self._queues.pop(key) for key in list(self._queues) if key not in model_set.models]
        self._set = model_set
        self._metrics.set_models(self.device, model_set.models.keys(), model_set.problems.keys())
        if self._device.type == "cuda":
            device = self._device
            self._metrics.track_device_memory(self.device, lambda: float(torch.cuda.memory_allocated(device)))
        return removed

    def _full_listener(self, key: ModelKey) -> Callable[[str, bool, int], None]:
        def changed(queue: str, full: bool, retry_after: int) -> None:
            if self.on_full is not None:
                self.on_full(key, queue, full, retry_after)

        return changed


def _names(keys: Any) -> str:
    return ", ".join(f"{k.name}:{k.version}" for k in sorted(keys)) or "none"


def _validate(model: LoadedModel, request: InferenceRequest) -> None:
    _check_image(model, request.image)
    unknown = [name for name in request.features if name not in model.block_names]
    if unknown:
        raise InvalidParameter(
            f"unknown feature layer(s) {unknown}; accepted: {list(model.block_names)}",
            detail={"parameter": "layers", "unknown": unknown, "accepted": list(model.block_names)},
        )


def _check_image(model: LoadedModel, image: Any) -> None:
    expected = (3, *model.input_size)
    if not isinstance(image, np.ndarray) or image.shape != expected or image.dtype not in IMAGE_TYPES:
        shape, dtype = getattr(image, "shape", None), getattr(image, "dtype", None)
        raise InvalidParameter(
            f"image must be a uint8 (0-255) or float32 ([0, 1]) array of shape {expected}, got {dtype} {shape}",
            detail={"expected_shape": list(expected), "shape": None if shape is None else list(shape)},
        )
