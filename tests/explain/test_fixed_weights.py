"""A two-block network with hand-set weights, small enough to work every method out on paper.

Input 3 x 4 x 4, normalisation and every batchnorm the identity (mean 0, var + eps = 1), no biases:

- block0: 1x1 conv that keeps the red channel: ``a0 = relu(R)``;
- block1: 3x3 / stride 2 / pad 1 conv whose only non-zero weight is the centre: ``a1[i, j] = a0[2i, 2j]``;
- hidden: global max of ``a1`` times 1, ReLU; output: times 1. So ``logit = max(a1)``.

With ``R = [[1, 5, 2, 6], [7, 8, 9, 1], [3, 2, 4, 1], [1, 1, 1, 2]] / 10``: ``a1 = [[.1, .2], [.3, .4]]`` and the
logit is 0.4, reached at ``a1[1, 1] = a0[2, 2]``.
"""

from __future__ import annotations

import pytest
import torch

from service.engine.types import BlockGeometry
from service.explain.base import Network
from service.explain.gradcam import gradcam
from service.explain.guided_backprop import guided_backprop
from service.explain.integrated_gradients import integrated_gradients
from service.explain.occlusion import occlusion
from service.explain.saliency import saliency
from service.explain.visualbackprop import visualbackprop_method
from training.export import script_model
from training.model import BlockSpec, ModelConfig, RoadNet

RED = torch.tensor([[1, 5, 2, 6], [7, 8, 9, 1], [3, 2, 4, 1], [1, 1, 1, 2]], dtype=torch.float32) / 10
ROAD, NOT_ROAD = torch.tensor([[1.0]]), torch.tensor([[-1.0]])
EPS = 2.0**-10
GEOMETRY = (
    BlockGeometry("block0", (1, 1), (1, 1), (0, 0), 3, 1, (4, 4)),
    BlockGeometry("block1", (3, 3), (2, 2), (1, 1), 1, 1, (2, 2)),
)


def hand_set_model() -> RoadNet:
    blocks = (BlockSpec("block0", 3, 1, 1, 1, 0), BlockSpec("block1", 1, 1, 3, 2, 1))
    config = ModelConfig(labels=("road",), input_size=4, hidden=1, blocks=blocks, mean=(0, 0, 0), std=(1, 1, 1))
    model = RoadNet(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.stages[0].conv.weight[0, 0] = 1.0
        model.stages[1].conv.weight[0, 0, 1, 1] = 1.0
        model.stages[2].fc.weight.fill_(1.0)
        model.output.weight.fill_(1.0)
        for bn in (model.stages[0].bn, model.stages[1].bn, model.stages[2].bn):
            bn.weight.fill_(1.0)
            bn.running_mean.zero_()
            # The identity with a positive eps (torch 2.11 refuses eps = 0): both powers of two, so var + eps is
            # exactly 1 in float32.
            bn.eps = EPS
            bn.running_var.fill_(1.0 - EPS)
    return model


@pytest.fixture(scope="module")
def network() -> Network:
    return Network(script_model(hand_set_model()), GEOMETRY, (4, 4), max_batch=2)


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    green_blue = torch.rand(2, 4, 4, generator=torch.Generator().manual_seed(0))  # ignored by block0
    return torch.cat([RED[None], green_blue])[None]


def test_the_network_is_what_the_docstring_says(network: Network, image: torch.Tensor) -> None:
    with torch.no_grad():
        logits, features = network.module.forward_with_features(image)
    torch.testing.assert_close(features[1][0, 0], torch.tensor([[0.1, 0.2], [0.3, 0.4]]))
    assert float(logits) == pytest.approx(0.4)


def test_visualbackprop_by_hand(network: Network, image: torch.Tensor) -> None:
    # a1 = [[1, 2], [3, 4]] / 10 spread by the ones-kernel 3x3 / s2 / p1 deconv onto 4 x 4: rows (and columns)
    # 0, 1, 2, 3 receive a1 rows {0}, {0, 1}, {1}, {1}. Times a0 = R, then min-max (the 1/100 scale cancels).
    upsampled = torch.tensor([[1, 3, 2, 2], [4, 10, 6, 6], [3, 7, 4, 4], [3, 7, 4, 4]], dtype=torch.float32)
    product = upsampled * RED * 10  # [[1, 15, 4, 12], [28, 80, 54, 6], [9, 14, 16, 4], [3, 7, 4, 8]]
    expected = (product - 1) / 79
    mask = visualbackprop_method(network, image, ROAD, {"normalize_overlap": False})
    torch.testing.assert_close(mask[0], expected)
    # Class-agnostic: the same mask for the opposite decision.
    torch.testing.assert_close(visualbackprop_method(network, image, NOT_ROAD, {"normalize_overlap": False}), mask)


def test_gradcam_by_hand_at_the_deepest_block(network: Network, image: torch.Tensor) -> None:
    # d logit / d a1 is 1 at the max, (1, 1): weight = mean = 1/4, cam = a1 / 4 = [[.025, .05], [.075, .1]].
    # Bilinear 2 -> 4 with half-pixel centres maps [a, b] to [a, .75a + .25b, .25a + .75b, b] along each axis.
    expected = 0.1 * torch.tensor(
        [
            [0.25, 0.3125, 0.4375, 0.5],
            [0.375, 0.4375, 0.5625, 0.625],
            [0.625, 0.6875, 0.8125, 0.875],
            [0.75, 0.8125, 0.9375, 1.0],
        ]
    )
    torch.testing.assert_close(gradcam(network, image, ROAD, {"layer": None})[0], expected)
    # Against the road: the weight is -1/4, and the ReLU leaves nothing.
    assert float(gradcam(network, image, NOT_ROAD, {"layer": "block1"}).abs().max()) == 0.0


def test_gradcam_by_hand_at_the_first_block(network: Network, image: torch.Tensor) -> None:
    # d logit / d a0 is 1 at (2, 2) only (the centre tap of block1 at a1[1, 1]): weight 1/16, cam = a0 / 16.
    torch.testing.assert_close(gradcam(network, image, ROAD, {"layer": "block0"})[0], RED / 16)


def test_gradients_by_hand(network: Network, image: torch.Tensor) -> None:
    # The logit is R[2, 2]: its gradient is 1 there, on the red channel, and 0 everywhere else.
    expected = torch.zeros(4, 4)
    expected[2, 2] = 1.0
    torch.testing.assert_close(saliency(network, image, ROAD, {})[0], expected)
    torch.testing.assert_close(guided_backprop(network, image, ROAD, {})[0], expected)


def test_integrated_gradients_by_hand(network: Network, image: torch.Tensor) -> None:
    # No biases and identity batchnorms: logit(a x) = a logit(x), the gradient is the same all along the path
    # from black, so IG = x * gradient: 0.4 at (2, 2), whose sum is the logit (completeness, exactly).
    expected = torch.zeros(4, 4)
    expected[2, 2] = 0.4
    maps = integrated_gradients(network, image, ROAD, {"steps": 7, "baseline": "black"})
    torch.testing.assert_close(maps[0], expected)


def test_occlusion_by_hand(network: Network, image: torch.Tensor) -> None:
    # 2 x 2 windows, stride 2: only the bottom-right window hides a0[2, 2]; max(a1) drops from .4 to .3.
    expected = torch.zeros(4, 4)
    expected[2:, 2:] = 0.1
    maps = occlusion(network, image, ROAD, {"window": 2, "stride": 2, "baseline": "black"})
    torch.testing.assert_close(maps[0], expected)
    # Overlapping 2 x 2 windows at stride 1 start at 0, 1, 2 per axis; a pixel is the mean drop over the windows
    # covering it. Along one axis, pixel 0 is covered by the window at 0 only (which misses index 2): share 0;
    # pixel 1 by 0 and 1 (1 of 2 reaches index 2): 1/2; pixels 2 and 3: every covering window reaches 2: 1.
    share = torch.tensor([0.0, 0.5, 1.0, 1.0])
    overlapping = occlusion(network, image, ROAD, {"window": 2, "stride": 1, "baseline": "black"})
    torch.testing.assert_close(overlapping[0], 0.1 * share[:, None] * share[None, :])
