"""Explanation batches in the device worker: group by (method, params), one method call per group.

Requests from every client for one model wait in one explanation queue (apart from ``/predict``'s, so that a
batch of cheap forward passes never waits behind a long explanation it did not ask for). A device batch holds
whatever arrived: requests with the same method and parameters run as one call of the method (one backward
pass for all their gradients, or their forward passes packed ``max_batch`` at a time), each with its own
target. Nothing here runs under ``torch.inference_mode()``: the gradient methods need autograd.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from service.engine.artifact import LoadedModel
from service.engine.device import copier, image_batch
from service.engine.types import ExplainRequest, ExplainResult
from service.errors import InvalidParameter
from service.explain.base import Network, ParamValue
from service.explain.common import display_maps
from service.explain.functions import FUNCTIONS
from service.explain.registry import METHODS, params_key
from service.observability.metrics import ModelMetrics


@dataclass(frozen=True)
class ExplainOutput:
    """A batch's explanations, in request order, and the seconds it spent in the worker thread."""

    results: list[ExplainResult]
    compute_seconds: float


def network_of(model: LoadedModel, max_batch: int, interrupted: Callable[[], bool] = lambda: False) -> Network:
    """The methods' view of a loaded artifact: its module, block geometry, input size and mean colour."""
    normalization = model.manifest.get("input", {}).get("normalization", {})
    mean = tuple(float(v) for v in normalization.get("mean", (0.5, 0.5, 0.5)))
    return Network(model.module, model.blocks, model.input_size, (mean[0], mean[1], mean[2]), max_batch, interrupted)


GroupKey = tuple[str, tuple[tuple[str, ParamValue], ...]]


def group_rows(requests: Sequence[ExplainRequest]) -> dict[GroupKey, list[int]]:
    """Request positions by (method, params), in order of first appearance."""
    groups: dict[GroupKey, list[int]] = {}
    for i, request in enumerate(requests):
        groups.setdefault((request.method, request.params), []).append(i)
    return groups


def explain_batch(
    model: LoadedModel,
    requests: Sequence[ExplainRequest],
    max_batch: int,
    interrupted: Callable[[], bool] = lambda: False,
) -> ExplainOutput:
    """Every request's maps, logits and probabilities; runs synchronously in the worker thread.

    Raises ``explain.base.Interrupted`` between device batches once ``interrupted()`` is true (every request of
    the batch given up): a long occlusion or integrated-gradients batch then stops within one device batch.
    """
    started = time.perf_counter()
    network = network_of(model, max_batch, interrupted)
    x = image_batch([r.image for r in requests], copier(model.device))
    targets = torch.tensor([r.target for r in requests], dtype=torch.float32, device=model.device)
    with torch.inference_mode():
        logits = model.module.forward(x).float()
        logits_np, probabilities_np = _numpy(logits), _numpy(torch.sigmoid(logits))
    raw: list[np.ndarray] = [np.empty(0, np.float32)] * len(requests)
    shown: list[np.ndarray] = [np.empty(0, np.float32)] * len(requests)
    for (method, params), rows in group_rows(requests).items():
        spec = METHODS[method]
        index = torch.tensor(rows, device=model.device)
        maps = FUNCTIONS[method](network, x[index], targets[index], dict(params)).detach().float()
        for j, (r, d) in enumerate(zip(_numpy(maps), _numpy(display_maps(maps, spec.signed)), strict=True)):
            raw[rows[j]], shown[rows[j]] = r, d
    results = [
        ExplainResult(raw=raw[i], display=shown[i], logits=logits_np[i], probabilities=probabilities_np[i])
        for i in range(len(requests))
    ]
    return ExplainOutput(results, time.perf_counter() - started)


def validate_explain(model: LoadedModel, request: ExplainRequest) -> None:
    """``InvalidParameter`` for an unknown method or a target row that does not fit the model's labels."""
    if request.method not in METHODS:
        raise InvalidParameter(
            f"unknown method {request.method!r}", detail={"parameter": "method", "accepted": list(METHODS)}
        )
    if len(request.target) != len(model.labels):
        raise InvalidParameter(
            f"target has {len(request.target)} weights for {len(model.labels)} labels",
            detail={"parameter": "target", "labels": list(model.labels)},
        )


def with_timings(output: ExplainOutput, waits: list[float], metrics: ModelMetrics) -> list[ExplainResult]:
    """Record the batch in the model's metrics; stamp each result with its queue wait and the batch's figures."""
    metrics.batch(waits, output.compute_seconds)
    timing = {"compute_ms": output.compute_seconds * 1000.0, "batch_size": len(output.results)}
    pairs = zip(output.results, waits, strict=True)
    return [replace(r, timings={"queue_wait_ms": w * 1000.0, **timing}) for r, w in pairs]


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float32).numpy()


# Cheapest valid parameters per method: warm-up needs each code path once, not a realistic workload.
WARMUP_PARAMS: dict[str, dict[str, ParamValue]] = {
    "smoothgrad": {"samples": 2, "seed": 0},
    "integrated_gradients": {"steps": 2},
    "occlusion": {"window": 96, "stride": 96},
}


def warmup_requests(model: LoadedModel) -> list[ExplainRequest]:
    """One request per method on a blank image: TorchScript's first calls with autograd are slow to profile."""
    image = np.zeros((3, *model.input_size), dtype=np.float32)
    target = tuple(1.0 if i == 0 else 0.0 for i in range(len(model.labels)))
    requests = []
    for name, spec in METHODS.items():
        params = {p.name: p.default for p in spec.params} | WARMUP_PARAMS.get(name, {})
        requests.append(ExplainRequest(image, name, params_key(params), target))
    return requests
