"""Class-model visualisation (``service/explain/class_model.py``): one step worked out by hand on the fixed-weight
network, the ascent's properties, and the shipped model's images scored as their target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from service.engine.artifact import load_artifact
from service.engine.explainer import network_of
from service.engine.types import ClassModelRequest
from service.explain import class_model as cm
from service.explain.base import Network
from service.explain.class_model import ClassModelRun, class_model_image
from tests.explain.test_fixed_weights import GEOMETRY, hand_set_model
from training.export import script_model

SHIPPED = Path(__file__).resolve().parents[2] / "model_store" / "roadnet" / "1"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def hand_set() -> Network:
    """logit = max over the even positions of relu(red) (see test_fixed_weights); mean colour 0.5."""
    return Network(script_model(hand_set_model()), GEOMETRY, (4, 4), max_batch=2)


def one_step_by_hand(seed: int) -> torch.Tensor:
    """The documented first step (jitter, normalised step, clipping; no blur before step ``BLUR_EVERY``), with the
    network's gradient written out: 1 on the red pixel that holds the max."""
    generator = torch.Generator().manual_seed(seed)
    mean = torch.full((1, 3, 1, 1), 0.5)
    start = (mean + torch.randn((1, 3, 4, 4), generator=generator) * cm.START_NOISE).clamp(0, 1)
    dy, dx = (int(v) for v in torch.randint(-cm.JITTER, cm.JITTER + 1, (2,), generator=generator))
    shifted = torch.roll(start, (dy, dx), dims=(2, 3))
    red = shifted[0, 0, ::2, ::2]
    gradient = -2 * cm.L2 * (shifted - mean) / shifted.numel()
    row, column = divmod(int(red.argmax()), 2)
    gradient[0, 0, 2 * row, 2 * column] += 1.0
    gradient = torch.roll(gradient, (-dy, -dx), dims=(2, 3))
    image = start + cm.STEP * gradient / gradient.abs().mean()
    contribution = ((image - mean) * gradient).abs().sum(dim=1)
    cut = contribution.flatten().kthvalue(max(1, int(cm.CLIP_SHARE * 16))).values
    image = torch.where((contribution <= cut)[:, None], mean, image)
    return image.clamp(0, 1)


@pytest.mark.parametrize("seed", [0, 3])
def test_one_step_is_the_documented_arithmetic(hand_set: Network, seed: int) -> None:
    run = ClassModelRun.start(hand_set, ClassModelRequest((1.0,), steps=cm.PLAIN_FINISH + 2, seed=seed), CPU)
    run.advance(1)  # a regularised step: the plain ones come last
    torch.testing.assert_close(run.image, one_step_by_hand(seed), atol=1e-6, rtol=0)


def test_the_last_steps_are_plain_ascent(hand_set: Network) -> None:
    request = ClassModelRequest((1.0,), steps=cm.PLAIN_FINISH + 1, seed=0)
    run = ClassModelRun.start(hand_set, request, CPU)
    run.advance(1)
    before = run.image.clone()
    run.advance(1)
    shifted = before.clone().requires_grad_(True)
    objective = run.network.module.forward(shifted)[0, 0] - cm.L2 * (shifted - 0.5).pow(2).mean()
    (gradient,) = torch.autograd.grad(objective, shifted)
    expected = (before + cm.FINISH_STEP * gradient / gradient.abs().mean()).clamp(0, 1)
    torch.testing.assert_close(run.image, expected, atol=1e-6, rtol=0)


def test_the_ascent_raises_the_score_and_is_a_function_of_the_seed(hand_set: Network) -> None:
    start = ClassModelRun.start(hand_set, ClassModelRequest((1.0,), steps=12, seed=1), CPU).result()
    result = class_model_image(hand_set, ClassModelRequest((1.0,), steps=12, seed=1), CPU)
    assert result.objective > start.objective + 0.1 and result.steps == 12
    again = class_model_image(hand_set, ClassModelRequest((1.0,), steps=12, seed=1), CPU)
    other = class_model_image(hand_set, ClassModelRequest((1.0,), steps=12, seed=2), CPU)
    assert np.array_equal(result.image, again.image) and not np.array_equal(result.image, other.image)
    lower = class_model_image(hand_set, ClassModelRequest((-1.0,), steps=12, seed=1), CPU)
    assert lower.logits[0] < start.logits[0] < result.logits[0]
    assert result.image.min() >= 0 and result.image.max() <= 1 and result.image.shape == (3, 4, 4)


def test_slices_of_steps_give_the_same_image_as_one_run(hand_set: Network) -> None:
    request = ClassModelRequest((1.0,), steps=10, seed=5)
    sliced = ClassModelRun.start(hand_set, request, CPU)
    for size in (3, 3, 8):  # the last slice asks for more than is left
        sliced.advance(size)
    assert sliced.finished and sliced.done == 10
    assert np.array_equal(sliced.result().image, class_model_image(hand_set, request, CPU).image)


def test_a_channel_of_a_block_can_be_raised_instead(hand_set: Network) -> None:
    request = ClassModelRequest((0.0,), steps=8, seed=0, layer="block0", channel=0)
    before = ClassModelRun.start(hand_set, request, CPU).result()
    after = class_model_image(hand_set, request, CPU)
    assert after.objective > before.objective  # the mean of relu(red)
    assert after.image[0].mean() > before.image[0].mean()


@pytest.fixture(scope="module")
def shipped() -> Network:
    if not (SHIPPED / "manifest.json").exists():
        pytest.fail("no shipped model in model_store/roadnet/1")
    return network_of(load_artifact(SHIPPED, CPU), 16)


@pytest.mark.parametrize("seed", [0, 1])  # docs/explanations.md shows more seeds
def test_the_shipped_model_scores_its_class_models_as_their_targets(shipped: Network, seed: int) -> None:
    for weight, passes in ((1.0, lambda p: p >= 0.99), (-1.0, lambda p: p <= 0.01)):
        result = class_model_image(shipped, ClassModelRequest((weight,), seed=seed), CPU)  # the default steps
        as_png = torch.from_numpy(np.round(result.image * 255.0) / 255.0).float()[None]  # what a PNG carries
        with torch.inference_mode():
            probability = float(torch.sigmoid(shipped.module.forward(as_png))[0, 0])
        assert passes(probability) and passes(float(result.probabilities[0])), (weight, seed, probability)
