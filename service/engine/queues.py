"""One model version's batch queues: forward passes (``/predict``, ``/features``, ``/visualbackprop``) and
explanations, each batching requests from every client and running its batches in the device worker.

The two queues are apart so that a batch of cheap forward passes never waits behind a long explanation it did
not ask for; their depths are reported together as the model's queue depth.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from service.engine.artifact import LoadedModel
from service.engine.batcher import Batcher, BatchObserver, SummedDepth
from service.engine.explainer import ExplainOutput, explain_batch, with_timings
from service.engine.types import EXPLAIN, FORWARD, ExplainRequest, ExplainResult, InferenceRequest, InferenceResult
from service.engine.worker import DeviceWorker
from service.observability.metrics import ModelMetrics

J = TypeVar("J")
R = TypeVar("R")


@dataclass(frozen=True)
class QueueConfig:
    """How requests are batched (the engine's settings)."""

    max_batch_size: int
    max_wait_ms: float
    max_queue: int
    explain_max_batch: int


@dataclass(frozen=True)
class _Job:
    request: InferenceRequest
    submitted: float  # time.monotonic()


@dataclass
class _ExplainJob:
    request: ExplainRequest
    submitted: float
    given_up: bool = False  # its waiter left (deadline, client gone, shutdown): the work may stop


FullListener = Callable[[str, bool, int], None]  # (queue, full, retry_after_s)


class ModelQueues:
    """The running queues of ``model``; ``stop()`` refuses new work and finishes what is queued.

    ``on_full(queue, full, retry_after_s)`` is told whenever a queue becomes full or stops being full.
    """

    def __init__(
        self,
        model: LoadedModel,
        worker: DeviceWorker,
        config: QueueConfig,
        metrics: ModelMetrics,
        on_full: FullListener | None = None,
    ) -> None:
        self.model = model
        self._worker = worker
        self._config = config
        self._metrics = metrics
        self._on_full = on_full
        depth = SummedDepth(metrics)
        self._forward = self._queue(self._run_forward, depth.part("predict"), FORWARD)
        self._explain = self._queue(self._run_explain, depth.part("explain"), EXPLAIN)

    def admit(self, queue: str) -> None:
        """``Overloaded`` (429) at once when ``queue`` (``FORWARD`` or ``EXPLAIN``) is full: checked before a
        request's body is read, so that refusing costs almost nothing."""
        batcher = self._forward if queue == FORWARD else self._explain
        if batcher.full:
            raise batcher.overloaded()

    async def infer(self, requests: Sequence[InferenceRequest], deadline: float | None) -> list[InferenceResult]:
        """Queue one HTTP request's images together; their results, in order."""
        now = time.monotonic()
        return await self._forward.submit([_Job(r, now) for r in requests], deadline)

    async def explain(self, requests: Sequence[ExplainRequest], deadline: float | None) -> list[ExplainResult]:
        """Queue one HTTP request's explanations together; their results, in order."""
        now = time.monotonic()
        jobs = [_ExplainJob(r, now) for r in requests]
        try:
            return await self._explain.submit(jobs, deadline)
        finally:
            for job in jobs:  # once answered this changes nothing; given up, it lets a running batch stop early
                job.given_up = True

    async def stop(self) -> None:
        """Refuse new work, and run everything queued."""
        await self._forward.stop()
        await self._explain.stop()

    def _queue(
        self, handler: Callable[[list[J]], Awaitable[list[R]]], observer: BatchObserver, name: str
    ) -> Batcher[J, R]:
        def full_changed(full: bool) -> None:
            if self._on_full is not None:
                self._on_full(name, full, batcher.retry_after())

        batcher = Batcher(
            handler,
            max_batch_size=self._config.max_batch_size,
            max_wait_ms=self._config.max_wait_ms,
            max_queue=self._config.max_queue,
            observer=observer,
            on_full=full_changed,
        )
        batcher.start()
        return batcher

    async def _run_forward(self, jobs: list[_Job]) -> list[InferenceResult]:
        started = time.monotonic()
        waits = [started - job.submitted for job in jobs]
        output = await self._worker.run(self.model, [job.request for job in jobs])
        self._metrics.batch(waits, output.compute_seconds)
        compute_ms = output.compute_seconds * 1000.0
        return [
            replace(r, timings={"queue_wait_ms": w * 1000.0, "compute_ms": compute_ms, "batch_size": len(jobs)})
            for r, w in zip(output.results, waits, strict=True)
        ]

    async def _run_explain(self, jobs: list[_ExplainJob]) -> list[ExplainResult]:
        started = time.monotonic()
        requests = [job.request for job in jobs]
        output: ExplainOutput = await self._worker.call(
            explain_batch, self.model, requests, self._config.explain_max_batch, lambda: all(j.given_up for j in jobs)
        )
        return with_timings(output, [started - job.submitted for job in jobs], self._metrics)
