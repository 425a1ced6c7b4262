"""The evidence ``POST /segment`` starts from, computed offline by the service's own code: a method's display map
and the model's road probability for every tile, and the gate (the tiles the model calls road)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from service.explain.base import Network
from service.explain.common import display_maps
from service.explain.functions import FUNCTIONS
from service.explain.registry import METHODS, Limits, resolve_params
from service.explain.segmentation import SegmentRule
from training.explanations.results import LabelledTiles

BATCH = 32


@dataclass(frozen=True)
class Evidence:
    """Display maps (float32 N x H x W in [0, 1]), road probabilities (N) and the gate (bool N)."""

    maps: np.ndarray
    probabilities: np.ndarray
    gate: np.ndarray


def method_params(rule: SegmentRule) -> dict[str, bool | int | float | str | None]:
    """The explanation method's full parameters for ``rule``: its defaults, and VisualBackProp's variant."""
    given = {"normalize_overlap": rule.normalize_overlap} if rule.method == "visualbackprop" else {}
    return resolve_params(METHODS[rule.method], given, Limits())


def road_target(labels: list[str]) -> torch.Tensor:
    """Weights on the logits that explain the road label (``road``, else the first label)."""
    index = labels.index("road") if "road" in labels else 0
    return torch.tensor([1.0 if i == index else 0.0 for i in range(len(labels))])


def evidence(
    network: Network, tiles: LabelledTiles, rule: SegmentRule, labels: list[str], threshold: float
) -> Evidence:
    """The rule's map of every tile, the road probability, and which tiles the model calls road."""
    target = road_target(labels)
    index = int(target.argmax())
    function, params, signed = FUNCTIONS[rule.method], method_params(rule), METHODS[rule.method].signed
    maps, probabilities = [], []
    for start in range(0, len(tiles.images), BATCH):
        x = tiles.pixels(slice(start, start + BATCH))
        targets = target.expand(len(x), -1)
        maps.append(display_maps(function(network, x, targets, params).detach().float(), signed).numpy())
        with torch.inference_mode():
            probabilities.append(torch.sigmoid(network.module.forward(x)[:, index].float()).numpy())
    p = np.concatenate(probabilities)
    return Evidence(np.concatenate(maps).astype(np.float32), p, p >= threshold)
