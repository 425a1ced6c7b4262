"""Properties every method must have: batch independence, packing into bounded device batches, SmoothGrad's seed."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
import torch

from service.explain.base import Network, Params
from service.explain.common import display_maps
from service.explain.functions import FUNCTIONS
from service.explain.registry import METHODS
from service.explain.saliency import saliency
from service.explain.smoothgrad import smoothgrad
from tests.explain.conftest import relative_error

CHEAP: dict[str, dict[str, Any]] = {
    "visualbackprop": {"normalize_overlap": False},
    "smoothgrad": {"samples": 6, "sigma": 0.1, "seed": 3},
    "gradcam": {"layer": None},
    "guided_gradcam": {"layer": "block2"},
    "occlusion": {"window": 32, "stride": 16, "baseline": "mean"},
    "integrated_gradients": {"steps": 6, "baseline": "blur"},
}


def params_for(name: str) -> Params:
    return CHEAP.get(name, {})


@pytest.mark.parametrize("name", list(METHODS))
def test_an_images_map_does_not_depend_on_its_batch(
    name: str, network: Network, batch: torch.Tensor, targets: torch.Tensor
) -> None:
    """Summing the per-image scores before one backward pass gives each image its own gradient."""
    method = FUNCTIONS[name]
    together = method(network, batch, targets, params_for(name))
    assert together.shape == (4, 96, 96) and together.dtype == torch.float32
    assert torch.isfinite(together).all() and float(together.abs().amax()) > 0
    for i in (0, 3):
        alone = method(network, batch[i : i + 1], targets[i : i + 1], params_for(name))
        assert relative_error(together[i], alone[0]) < 1e-5, (name, i)


class CountingModule:
    """The artifact, recording the batch size of every pass that enters it."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.sizes: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)

    def normalize_input(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(x.shape[0])
        return self.module.normalize_input(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(x.shape[0])
        return self.module.forward(x)

    def forward_with_features(self, x: torch.Tensor) -> Any:
        self.sizes.append(x.shape[0])
        return self.module.forward_with_features(x)


@pytest.mark.parametrize(
    ("name", "per_image", "extra"),
    [
        ("smoothgrad", 6, []),
        ("integrated_gradients", 6, []),
        ("occlusion", (math.ceil((96 - 32) / 16) + 1) ** 2, [4]),  # + the unoccluded reference pass
    ],
)
def test_expanding_methods_pack_their_passes_into_bounded_device_batches(
    name: str, per_image: int, extra: list[int], network: Network, batch: torch.Tensor, targets: torch.Tensor
) -> None:
    counting = CountingModule(network.module)
    bounded = replace(network, module=counting, max_batch=16)
    FUNCTIONS[name](bounded, batch, targets, params_for(name))
    total = len(batch) * per_image
    expected = [*extra, *[16] * (total // 16), *([total % 16] if total % 16 else [])]
    assert counting.sizes == expected  # full batches of 16, never one pass at a time


def test_smoothgrad_is_reproducible_with_a_seed(network: Network, batch: torch.Tensor, targets: torch.Tensor) -> None:
    params = {"samples": 5, "sigma": 0.15, "seed": 11}
    first = smoothgrad(network, batch, targets, params)
    torch.testing.assert_close(smoothgrad(network, batch, targets, params), first, rtol=0, atol=0)
    assert relative_error(smoothgrad(network, batch, targets, {**params, "seed": 12}), first) > 0.01
    unseeded = [smoothgrad(network, batch[:1], targets[:1], {**params, "seed": None}) for _ in range(2)]
    assert relative_error(unseeded[0], unseeded[1]) > 0.01


def test_smoothgrad_tends_to_the_plain_gradient_as_sigma_shrinks(
    network: Network, batch: torch.Tensor, targets: torch.Tensor
) -> None:
    plain = saliency(network, batch, targets, {})
    torch.testing.assert_close(smoothgrad(network, batch, targets, {"samples": 3, "sigma": 0.0, "seed": 0}), plain)
    errors = [
        relative_error(smoothgrad(network, batch, targets, {"samples": 8, "sigma": sigma, "seed": 0}), plain)
        for sigma in (0.3, 1e-2, 1e-4, 1e-7)
    ]
    # This untrained network is rough (its gradient jumps between nearby inputs): the distance shrinks with
    # sigma, and vanishes once the noise is too small to cross a ReLU or max-pool boundary.
    assert errors == sorted(errors, reverse=True) and errors[0] > 0.1 and errors[-1] < 1e-5, errors


def test_display_maps() -> None:
    maps = torch.tensor([[[-2.0, 0.0], [1.0, 4.0]], [[3.0, 3.0], [3.0, 3.0]]])
    signed = display_maps(maps, signed=True)  # positive part over its maximum: 0 stays 0
    torch.testing.assert_close(signed[0], torch.tensor([[0.0, 0.0], [0.25, 1.0]]))
    torch.testing.assert_close(signed[1], torch.ones(2, 2))
    unsigned = display_maps(maps, signed=False)  # min-max; a constant map gives zeros, not NaN
    torch.testing.assert_close(unsigned[0], torch.tensor([[0.0, 1 / 3], [0.5, 1.0]]))
    torch.testing.assert_close(unsigned[1], torch.zeros(2, 2))
    assert float(display_maps(-maps[:1].abs(), signed=True).abs().max()) == 0.0  # no evidence for the target
