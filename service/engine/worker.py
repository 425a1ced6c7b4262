"""The device worker: one thread per device runs every batch, off the event loop.

One forward pass (``forward_with_features``) feeds the probabilities, the requested feature maps and
VisualBackProp for the items that asked for it; on CPU a large batch runs as several passes of a few images
each, which keeps a pass's activations in the caches. A single thread per device keeps batches from
competing for the same cores or stream (oversubscribed threads are what cut peer servers' throughput).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from service.engine.artifact import LoadedModel
from service.engine.device import image_batch
from service.engine.types import InferenceRequest, InferenceResult, VBPOptions, VBPResult
from service.explain.visualbackprop import visualbackprop

T = TypeVar("T")


@dataclass(frozen=True)
class BatchOutput:
    """A batch's results, in request order, and the seconds it spent in the worker thread."""

    results: list[InferenceResult]
    compute_seconds: float


class DeviceWorker:
    """A single-thread executor bound to one device; ``torch_threads`` sets that thread's intra-op threads.

    ``forward_max_batch`` caps the images in one forward pass: a larger batch runs as several passes in the
    same job (None: the whole batch in one pass).
    """

    def __init__(
        self, device: torch.device, torch_threads: int | None = None, forward_max_batch: int | None = None
    ) -> None:
        if forward_max_batch is not None and forward_max_batch < 1:
            raise ValueError(f"forward_max_batch must be at least 1, got {forward_max_batch}")
        self.device = device
        self.forward_max_batch = forward_max_batch
        self._torch_threads = torch_threads
        self._staging: dict[tuple[int | str, ...], torch.Tensor] = {}
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"roadlens-{device}", initializer=self._init_thread
        )

    def _init_thread(self) -> None:
        if self._torch_threads is not None:
            torch.set_num_threads(self._torch_threads)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the worker thread (loading, warm-up)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def run(self, model: LoadedModel, requests: Sequence[InferenceRequest]) -> BatchOutput:
        """Compute one batch in the worker thread."""
        return await self.call(self.compute, model, requests)

    def compute(self, model: LoadedModel, requests: Sequence[InferenceRequest]) -> BatchOutput:
        """One batch, synchronously (in the worker thread), in passes of at most ``forward_max_batch`` images."""
        started = time.perf_counter()
        step = self.forward_max_batch or len(requests)
        results: list[InferenceResult] = []
        with torch.inference_mode():
            for first in range(0, len(requests), step):
                results.extend(self._forward(model, requests[first : first + step]))
        return BatchOutput(results, time.perf_counter() - started)

    def _forward(self, model: LoadedModel, requests: Sequence[InferenceRequest]) -> list[InferenceResult]:
        """One forward pass and all its requests want from it: probabilities, feature maps, masks."""
        x = image_batch([r.image for r in requests], self._to_device)
        logits, features = model.module.forward_with_features(x)
        probabilities = torch.sigmoid(logits.float())
        maps = _requested_features(model, requests, features)
        masks = _visualbackprop(model, requests, features)
        logits_np, probabilities_np = _numpy(logits), _numpy(probabilities)
        return [
            InferenceResult(logits=logits_np[i], probabilities=probabilities_np[i], features=maps[i], vbp=masks[i])
            for i in range(len(requests))
        ]

    def _to_device(self, batch: np.ndarray) -> torch.Tensor:
        host = torch.from_numpy(batch)
        if self.device.type != "cuda":
            return host
        # Page-locked staging lets the copy run asynchronously; one buffer per shape and type is reused because
        # the batch ends with a device-to-host copy, so the previous upload has always finished.
        kind = (*host.shape[1:], str(host.dtype))
        staging = self._staging.get(kind)
        if staging is None or staging.shape[0] < host.shape[0]:
            staging = torch.empty(host.shape, dtype=host.dtype, pin_memory=True)
            self._staging[kind] = staging
        staging[: host.shape[0]].copy_(host)
        return staging[: host.shape[0]].to(self.device, non_blocking=True)

    def close(self, wait: bool = True) -> None:
        """End the thread after the running job; ``wait=False`` returns at once and drops jobs not started."""
        self._executor.shutdown(wait=wait, cancel_futures=not wait)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float32).numpy()


def _requested_features(
    model: LoadedModel, requests: Sequence[InferenceRequest], features: list[torch.Tensor]
) -> list[dict[str, np.ndarray]]:
    """Only the blocks someone asked for cross to the host, once per block for the items that asked."""
    out: list[dict[str, np.ndarray]] = [{} for _ in requests]
    for index, name in enumerate(model.block_names):
        rows = [i for i, r in enumerate(requests) if name in r.features]
        if not rows:
            continue
        maps = _numpy(features[index][rows] if len(rows) < len(requests) else features[index])
        for j, i in enumerate(rows):
            out[i][name] = maps[j]
    return out


def _visualbackprop(
    model: LoadedModel, requests: Sequence[InferenceRequest], features: list[torch.Tensor]
) -> list[VBPResult | None]:
    """Masks for the items that asked, batched on the device, one call per distinct set of options."""
    out: list[VBPResult | None] = [None for _ in requests]
    groups: dict[VBPOptions, list[int]] = {}
    for i, r in enumerate(requests):
        if r.vbp is not None:
            groups.setdefault(r.vbp, []).append(i)
    for options, rows in groups.items():
        subset = [f[rows] for f in features] if len(rows) < len(requests) else features
        masks, layers = visualbackprop(subset, model.blocks, model.input_size, options)
        masks_np = _numpy(masks)
        for j, i in enumerate(rows):
            out[i] = VBPResult(mask=masks_np[j], layers=layers[j])
    return out
