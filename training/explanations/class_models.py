"""Class-model images of the trained model and of an untrained network of the same shape, both targets, scored by
the network they were made for after the 8-bit rounding of a PNG (what ``POST /predict`` would see), and timed."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from service.engine.types import ClassModelRequest
from service.explain.base import Network
from service.explain.class_model import class_model_image
from training.explanations.results import TIMED_RUNS, ClassModelImage
from training.explanations.sanity import randomised
from training.explanations.segment_maps import road_target

SEEDS = (0, 1, 2)
CPU = torch.device("cpu")


def as_png(image: np.ndarray) -> torch.Tensor:
    """A 3 x H x W image in [0, 1] as a PNG carries it: 8 bits per channel."""
    return torch.from_numpy(np.round(image * 255.0) / 255.0).float()[None]


def road_probability(network: Network, image: np.ndarray, index: int) -> float:
    """The network's road probability of the image, rounded to 8 bits first."""
    with torch.inference_mode():
        return float(torch.sigmoid(network.module.forward(as_png(image))[0, index]))


def images_of(name: str, network: Network, labels: list[str], seeds: tuple[int, ...]) -> list[ClassModelImage]:
    """Both targets, every seed, each timed as the best of ``TIMED_RUNS`` identical ascents, after one untimed ascent
    (TorchScript profiles its first autograd runs)."""
    road = road_target(labels)
    index = int(road.argmax())
    class_model_image(network, ClassModelRequest(tuple(road.tolist()), steps=8), CPU)
    made = []
    for target, sign in (("road", 1.0), ("not_road", -1.0)):
        for seed in seeds:
            request = ClassModelRequest(tuple((sign * road).tolist()), seed=seed)
            seconds = float("inf")
            for _ in range(TIMED_RUNS):  # on a shared machine, slower runs measure the neighbours
                started = time.perf_counter()
                result = class_model_image(network, request, CPU)
                seconds = min(seconds, time.perf_counter() - started)
            probability = road_probability(network, result.image, index)
            made.append(ClassModelImage(name, target, result.image.transpose(1, 2, 0), probability, seconds,
                                        request.steps, seed))  # fmt: skip
    return made


def class_model_images(model_dir: Path, labels: list[str], seeds: tuple[int, ...] = SEEDS) -> list[ClassModelImage]:
    """The trained model's images, then the untrained network's (every layer group re-initialised)."""
    return [
        *images_of("trained", randomised(model_dir, 0, 16), labels, seeds),
        *images_of("untrained", randomised(model_dir, 6, 16), labels, seeds),
    ]
