"""The engine: what the HTTP edge calls to run models.

``start()`` scans the store, loads and verifies every version on the device, warms the default model up at
the batch sizes it will see, and starts one batch queue per model version; only then is it ``ready``.
``infer()`` enqueues all images of one HTTP request together and waits for their results.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from service.engine.artifact import ArtifactError, LoadedModel, load_artifact
from service.engine.batcher import Batcher, BatchObserver, SummedDepth
from service.engine.class_models import ResultCache, make_class_model, validate_class_model
from service.engine.device import default_explain_batch, default_forward_batch, resolve_device
from service.engine.explainer import ExplainOutput, explain_batch, validate_explain, with_timings
from service.engine.model_store import ModelStore
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
from service.observability.metrics import Metrics, ModelMetrics

logger = logging.getLogger(__name__)
J = TypeVar("J")
R = TypeVar("R")


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


@dataclass(frozen=True)
class _Job:
    request: InferenceRequest
    submitted: float  # time.monotonic()


@dataclass(frozen=True)
class _ExplainJob:
    request: ExplainRequest
    submitted: float


class Engine:
    """Loads the store's models on one device and serves batched inference from one worker thread."""

    def __init__(self, config: EngineConfig, metrics: Metrics) -> None:
        self.config = config
        self._metrics = metrics
        self._device = resolve_device(config.device)
        self._explain_max_batch = config.explain_max_batch or default_explain_batch(self._device)
        self._store: ModelStore | None = None
        self._worker: DeviceWorker | None = None
        self._models: dict[ModelKey, LoadedModel] = {}
        self._batchers: dict[ModelKey, Batcher[_Job, InferenceResult]] = {}
        self._explainers: dict[ModelKey, Batcher[_ExplainJob, ExplainResult]] = {}
        self._class_models: ResultCache[tuple[ModelKey, ClassModelRequest], ClassModelResult] = ResultCache()
        self._ready = False

    @property
    def ready(self) -> bool:
        """True once every model is loaded and warmed up, until ``stop()``."""
        return self._ready

    @property
    def explain_max_batch(self) -> int:
        """Most forward passes per device batch of an explanation (the setting, or the device's default)."""
        return self._explain_max_batch

    @property
    def device(self) -> str:
        """The device the models run on, e.g. ``"cpu"`` or ``"cuda:0"``."""
        return str(self._device)

    async def start(self) -> None:
        """Scan, load, verify and warm up every model, then start the batch queues and become ready.

        Raises ``ArtifactError`` (``ModelStoreError`` for an empty or malformed store) when it cannot serve.
        An engine starts once; build a new one to start again.
        """
        if self._store is not None:
            raise RuntimeError("the engine was already started")
        store = ModelStore(self.config.model_store, self.config.default_model)
        forward_max_batch = self.config.forward_max_batch or default_forward_batch(self._device)
        worker = DeviceWorker(self._device, self.config.torch_threads, forward_max_batch)
        try:
            models = await self._load_all(worker, store)
            if self.config.warmup:
                await warm_up(worker, models, store.default_key, self.config.max_batch_size)
        except BaseException:  # failed or cancelled: do not block the event loop on the job in flight
            worker.close(wait=False)
            raise
        self._store, self._worker, self._models = store, worker, models
        self._serve(models)
        self._ready = True
        logger.info("engine ready on %s with %s", self.device, ", ".join(f"{k.name}:{k.version}" for k in models))

    async def stop(self) -> None:
        """Stop taking work (``NotReady``), finish everything queued, then end the worker thread."""
        self._ready = False
        stops = [b.stop() for b in self._batchers.values()] + [b.stop() for b in self._explainers.values()]
        await asyncio.gather(*stops, self._class_models.close())
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def models(self) -> list[ModelInfo]:
        """Every loaded model version, sorted by name then version."""
        store = self._loaded_store()
        return [self._info(store, key) for key in store.list_keys()]

    def resolve(self, name: str | None, version: int | None) -> ModelInfo:
        """The model version a request names (None: the default name / the newest version).

        Raises ``InvalidParameter`` for a malformed name or version, ``UnknownModel`` for one not in the store.
        """
        store = self._loaded_store()
        return self._info(store, store.resolve(name, version))

    async def infer(
        self, key: ModelKey, requests: Sequence[InferenceRequest], deadline: float | None = None
    ) -> list[InferenceResult]:
        """Results for ``requests`` (one HTTP request's images, queued together), in order.

        ``deadline`` is absolute ``time.monotonic()``. Raises ``NotReady``, ``UnknownModel``,
        ``InvalidParameter`` (wrong image shape, unknown feature layer), ``Overloaded``, ``DeadlineExceeded``,
        ``InferenceFailed``.
        """
        if not self._ready:
            raise NotReady("the models are not loaded yet, or the service is shutting down")
        model = self._loaded_model(key)
        for request in requests:
            _validate(model, request)
        now = time.monotonic()
        return await self._batchers[key].submit([_Job(r, now) for r in requests], deadline)

    async def explain(
        self, key: ModelKey, requests: Sequence[ExplainRequest], deadline: float | None = None
    ) -> list[ExplainResult]:
        """Explanations for ``requests``, batched with other clients' in the model's explanation queue.

        Parameters must already be resolved (``explain.registry.resolve_params``). Raises like ``infer``.
        """
        model = self._loaded_model(key)
        for request in requests:
            _check_image(model, request.image)
            validate_explain(model, request)
        now = time.monotonic()
        return await self._explainers[key].submit([_ExplainJob(r, now) for r in requests], deadline)

    async def class_model(self, key: ModelKey, request: ClassModelRequest) -> ClassModelResult:
        """The class-model image for ``request`` (``explain/class_model.py``): made in the device worker in slices
        of steps, between other batches, and cached per model version and request.

        Raises ``NotReady``, ``UnknownModel``, ``InvalidParameter`` (a target, layer or channel the model does not
        have).
        """
        model = self._loaded_model(key)
        validate_class_model(model, request)
        assert self._worker is not None  # a loaded model means a started engine
        make = partial(make_class_model, self._worker, model, request, self._explain_max_batch)
        return await self._class_models.get((key, request), make)

    def _loaded_model(self, key: ModelKey) -> LoadedModel:
        if not self._ready:
            raise NotReady("the models are not loaded yet, or the service is shutting down")
        model = self._models.get(key)
        if model is None:
            raise UnknownModel(f"model {key.name}:{key.version} is not loaded", detail={"model": key.name})
        return model

    async def _load_all(self, worker: DeviceWorker, store: ModelStore) -> dict[ModelKey, LoadedModel]:
        models = {}
        for key in store.list_keys():
            model = await worker.call(load_artifact, store.folder(key), self._device)
            if model.key != key:  # the folder changed between the scan and the load
                raise ArtifactError(f"{store.folder(key)} now holds {model.key}")
            models[key] = model
        return models

    def _serve(self, models: dict[ModelKey, LoadedModel]) -> None:
        for key, model in models.items():
            depth = SummedDepth(self._metrics.for_model(key.name, key.version))
            self._batchers[key] = self._start_batcher(model, depth.part("predict"))
            self._explainers[key] = self._start_explainer(model, depth.part("explain"))
            self._metrics.set_model_info(key.name, key.version, self.device)
        if self._device.type == "cuda":
            device = self._device
            self._metrics.track_device_memory(self.device, lambda: float(torch.cuda.memory_allocated(device)))

    def _loaded_store(self) -> ModelStore:
        if self._store is None:
            raise NotReady("the models are not loaded yet")
        return self._store

    def _info(self, store: ModelStore, key: ModelKey) -> ModelInfo:
        return ModelInfo(key, store.manifest(key), key == store.default_key)

    def _start_batcher(self, model: LoadedModel, observer: BatchObserver) -> Batcher[_Job, InferenceResult]:
        metrics = self._metrics.for_model(model.key.name, model.key.version)

        async def handler(jobs: list[_Job]) -> list[InferenceResult]:
            return await self._run_batch(model, metrics, jobs)

        return self._queue(handler, observer)

    def _start_explainer(self, model: LoadedModel, observer: BatchObserver) -> Batcher[_ExplainJob, ExplainResult]:
        metrics = self._metrics.for_model(model.key.name, model.key.version)

        async def handler(jobs: list[_ExplainJob]) -> list[ExplainResult]:
            assert self._worker is not None  # batchers only run between start() and stop()
            started = time.monotonic()
            output: ExplainOutput = await self._worker.call(
                explain_batch, model, [job.request for job in jobs], self._explain_max_batch
            )
            return with_timings(output, [started - job.submitted for job in jobs], metrics)

        return self._queue(handler, observer)

    def _queue(self, handler: Callable[[list[J]], Awaitable[list[R]]], observer: BatchObserver) -> Batcher[J, R]:
        batcher = Batcher(
            handler,
            max_batch_size=self.config.max_batch_size,
            max_wait_ms=self.config.max_wait_ms,
            max_queue=self.config.max_queue,
            observer=observer,
        )
        batcher.start()
        return batcher

    async def _run_batch(self, model: LoadedModel, observer: ModelMetrics, jobs: list[_Job]) -> list[InferenceResult]:
        assert self._worker is not None  # batchers only run between start() and stop()
        started = time.monotonic()
        waits = [started - job.submitted for job in jobs]
        output = await self._worker.run(model, [job.request for job in jobs])
        observer.batch(waits, output.compute_seconds)
        compute_ms = output.compute_seconds * 1000.0
        return [
            replace(r, timings={"queue_wait_ms": w * 1000.0, "compute_ms": compute_ms, "batch_size": len(jobs)})
            for r, w in zip(output.results, waits, strict=True)
        ]


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
    if not isinstance(image, np.ndarray) or image.shape != expected or not np.issubdtype(image.dtype, np.floating):
        shape = getattr(image, "shape", None)
        raise InvalidParameter(
            f"image must be a float array of shape {expected}, got {shape}",
            detail={"expected_shape": list(expected), "shape": None if shape is None else list(shape)},
        )
