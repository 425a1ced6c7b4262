"""Class-model images in the engine: checked, made in slices of steps in the device worker, cached.

A class-model image is a pure function of the model version and the request (``ClassModelRequest`` holds the
seed), so it is made once: later requests get the cached result, and requests for one that is being made wait for
that one. A client that gives up does not stop it (the next one gets it). The ascent runs ``SLICE_STEPS`` steps per
job of the device worker, so other batches keep flowing between its slices.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from service.engine.artifact import LoadedModel
from service.engine.explainer import network_of
from service.engine.types import ClassModelRequest, ClassModelResult
from service.engine.worker import DeviceWorker
from service.errors import InvalidParameter
from service.explain.class_model import ClassModelRun

K = TypeVar("K")
R = TypeVar("R")
SLICE_STEPS = 8  # about 20-40 ms of a 96 x 96 image on one CPU core: what a predict batch may wait behind
CACHED = 128  # results kept (an image of the shipped model is 110 kB)


class ResultCache(Generic[K, R]):
    """Finished results by key (least recently used evicted beyond ``capacity``), and the ones being made."""

    def __init__(self, capacity: int = CACHED) -> None:
        self.capacity = capacity
        self._done: OrderedDict[K, R] = OrderedDict()
        self._running: dict[K, asyncio.Task[R]] = {}

    async def get(self, key: K, make: Callable[[], Awaitable[R]]) -> R:
        """The result for ``key``: cached, being made (joined), or made now by ``make()``."""
        if key in self._done:
            self._done.move_to_end(key)
            return self._done[key]
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(make())
            self._running[key] = task
            task.add_done_callback(lambda finished: self._finish(key, finished))
        return await asyncio.shield(task)  # a caller's timeout cancels its wait, not the work

    def _finish(self, key: K, task: asyncio.Task[R]) -> None:
        self._running.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return
        self._done[key] = task.result()
        while len(self._done) > self.capacity:
            self._done.popitem(last=False)

    async def close(self) -> None:
        """Cancel what is being made and wait for it to stop."""
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


def validate_class_model(model: LoadedModel, request: ClassModelRequest) -> None:
    """``InvalidParameter`` for a target row, layer or channel the model does not have, or no steps."""
    if request.steps < 1:
        raise InvalidParameter("steps must be at least 1", detail={"parameter": "steps", "minimum": 1})
    if len(request.target) != len(model.labels):
        raise InvalidParameter(
            f"target has {len(request.target)} weights for {len(model.labels)} labels",
            detail={"parameter": "target", "labels": list(model.labels)},
        )
    if request.layer is None:
        return
    blocks = {block.name: block for block in model.blocks}
    if request.layer not in blocks:
        raise InvalidParameter(
            f"unknown layer {request.layer!r}; accepted: {', '.join(blocks)}",
            detail={"parameter": "layer", "accepted": list(blocks)},
        )
    channels = blocks[request.layer].out_channels
    if request.channel is None or not 0 <= request.channel < channels:
        raise InvalidParameter(
            f"channel must be in [0, {channels - 1}] for {request.layer}",
            detail={"parameter": "channel", "minimum": 0, "maximum": channels - 1},
        )


async def make_class_model(
    worker: DeviceWorker, model: LoadedModel, request: ClassModelRequest, max_batch: int
) -> ClassModelResult:
    """The ascent in slices of ``SLICE_STEPS`` worker jobs."""
    run = await worker.call(ClassModelRun.start, network_of(model, max_batch), request, model.device)
    while not run.finished:
        await worker.call(run.advance, SLICE_STEPS)
    return await worker.call(run.result)
