"""Warm-up before ``/readyz`` turns 200: every batch shape the device worker will see, run once on zeros.

TorchScript's profiling executor makes the first calls slow (~100x on CPU), and each new batch shape costs
again (measured: +5 ms at a size after the powers of two were warmed, nothing once every size was). That is
paid here, before the engine is ready, and not by the first users.
"""

from __future__ import annotations

import numpy as np

from service.engine.artifact import LoadedModel
from service.engine.explainer import explain_batch, warmup_requests
from service.engine.types import InferenceRequest, ModelKey, VBPOptions
from service.engine.worker import DeviceWorker


def warmup_sizes(max_batch_size: int, every: bool) -> list[int]:
    """The batch sizes warmed up: every size up to ``max_batch_size``, or the powers of two and the maximum."""
    if every:
        return list(range(1, max_batch_size + 1))
    return sorted({*(1 << i for i in range(max_batch_size.bit_length())), max_batch_size} - {0})


async def warm_up(
    worker: DeviceWorker, models: dict[ModelKey, LoadedModel], default: ModelKey, max_batch_size: int
) -> None:
    """The default model at every pass size, the others at the powers of two, then the gradient path.

    A pass never holds more than the worker's ``forward_max_batch`` images, so no larger size is warmed.
    """
    largest = min(max_batch_size, worker.forward_max_batch or max_batch_size)
    for key, model in models.items():
        await worker.call(worker.compute, model, _requests(model, 1, everything=True))
        for size in warmup_sizes(largest, every=key == default):
            await worker.call(worker.compute, model, _requests(model, size))
    # The gradient path through the artifact's stages profiles separately (measured on CPU: ~150 ms for the
    # first gradient request, ~10 ms after); twice, as the profiling executor optimises on its second run.
    if default in models:
        for _ in range(2):
            await worker.call(explain_batch, models[default], warmup_requests(models[default]), 1)


def _requests(model: LoadedModel, size: int, everything: bool = False) -> list[InferenceRequest]:
    # The eager VisualBackProp convolutions also pay a first-call cost per batch size (oneDNN builds a
    # primitive per shape, about 8 ms each on CPU), so every warm-up item asks for a mask.
    image = np.zeros((3, *model.input_size), dtype=np.float32)
    if everything:
        full = VBPOptions(normalize_overlap=True, keep_layers=True)
        return [InferenceRequest(image, features=model.block_names, vbp=full) for _ in range(size)]
    return [InferenceRequest(image, vbp=VBPOptions()) for _ in range(size)]
