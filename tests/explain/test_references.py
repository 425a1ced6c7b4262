"""Every gradient and perturbation method against Captum (a test-only dependency) on the same weights.

Saliency, integrated gradients and occlusion run Captum on the very artifact the service loads. Guided
backprop, Grad-CAM and guided Grad-CAM need hooks, which a ``torch.jit.load``ed module ignores, so their
reference is Captum on the eager network the artifact was exported from.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from captum.attr import (
    GuidedBackprop,
    GuidedGradCam,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    Occlusion,
    Saliency,
)

from service.engine.artifact import LoadedModel
from service.explain.base import Network, abs_max_channels, input_gradients
from service.explain.baselines import make_baseline
from service.explain.gradcam import gradcam_maps
from service.explain.guided_backprop import guided_backprop, guided_gradients
from service.explain.guided_gradcam import guided_gradcam_attributions
from service.explain.integrated_gradients import ig_attributions, integrated_gradients
from service.explain.occlusion import occlusion_maps
from service.explain.saliency import saliency
from tests.explain.conftest import relative_error
from training.model import RoadNet

TOLERANCE = 1e-5
# Captum's gradient methods warn when handed inputs that do not already require gradients; they set it themselves.
# and their ReLU-hook methods announce the hooks they set.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Input Tensor .* did not already require gradients"),
    pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU activations"),
]
Forward = Callable[[torch.Tensor], torch.Tensor]
Attribute = Callable[[Forward, torch.Tensor, torch.Tensor], torch.Tensor]


def per_target(model: Forward, batch: torch.Tensor, targets: torch.Tensor, attribute: Attribute) -> torch.Tensor:
    """Captum's attributions, with the negated logit as the forward function for the not_road rows.

    ``attribute(forward, inputs, rows)``: ``rows`` are the inputs' positions in ``batch``.
    """
    out = torch.empty_like(batch)
    for sign in (1.0, -1.0):
        rows = (targets[:, 0] == sign).nonzero()[:, 0]
        signed = model if sign > 0 else (lambda x: -model(x))
        out[rows] = attribute(signed, batch[rows], rows).detach()
    return out


def test_saliency_is_captums_gradient_on_the_artifact(
    artifact: LoadedModel, network: Network, batch: torch.Tensor, targets: torch.Tensor
) -> None:
    reference = per_target(
        artifact.module, batch, targets, lambda f, x, _rows: Saliency(f).attribute(x, target=0, abs=False)
    )
    ours = input_gradients(network, batch, targets)
    assert relative_error(ours, reference) < TOLERANCE
    assert relative_error(saliency(network, batch, targets, {}), reference.abs().amax(dim=1)) < TOLERANCE


@pytest.mark.parametrize("baseline", ["black", "mean", "blur"])
def test_integrated_gradients_are_captums_on_the_artifact(
    artifact: LoadedModel, network: Network, batch: torch.Tensor, targets: torch.Tensor, baseline: str
) -> None:
    reference_point = make_baseline(baseline, batch, network)
    steps = 20

    def captum(f: Forward, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return IntegratedGradients(f).attribute(x, baselines=reference_point[rows], target=0, n_steps=steps)

    reference = per_target(artifact.module, batch, targets, captum)
    ours = ig_attributions(network, batch, targets, steps, reference_point)
    assert relative_error(ours, reference) < TOLERANCE
    maps = integrated_gradients(network, batch, targets, {"steps": steps, "baseline": baseline})
    assert relative_error(maps, reference.sum(dim=1)) < TOLERANCE


@pytest.mark.parametrize(("window", "stride", "baseline"), [(16, 8, "black"), (24, 16, "mean"), (20, 20, "blur")])
def test_occlusion_is_captums_on_the_artifact(
    artifact: LoadedModel,
    network: Network,
    batch: torch.Tensor,
    targets: torch.Tensor,
    window: int,
    stride: int,
    baseline: str,
) -> None:
    """Including windows that do not tile the image exactly (24/16, 20/20: the last one is clipped)."""
    batch, targets = batch[:2], targets[:2]  # one road, one not_road: each image costs (96 / stride)^2 passes
    reference_point = make_baseline(baseline, batch, network)

    def captum(f: Forward, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return Occlusion(f).attribute(
            x,
            sliding_window_shapes=(3, window, window),
            strides=(3, stride, stride),
            baselines=reference_point[rows],
            target=0,
            perturbations_per_eval=64,
        )

    reference = per_target(artifact.module, batch, targets, captum)
    ours = occlusion_maps(network, batch, targets, window, stride, reference_point)
    assert relative_error(ours, reference[:, 0]) < TOLERANCE


def test_guided_backprop_is_captums_on_the_eager_model_and_not_the_gradient(
    artifact: LoadedModel, eager_model: RoadNet, network: Network, batch: torch.Tensor, targets: torch.Tensor
) -> None:
    reference = per_target(eager_model, batch, targets, lambda f, x, _rows: _guided(f, eager_model, x))
    ours = guided_gradients(network, batch, targets)
    assert relative_error(ours, reference) < TOLERANCE
    plain = input_gradients(network, batch, targets)
    assert relative_error(ours, plain) > 0.1  # a real difference, not rounding
    assert relative_error(guided_backprop(network, batch, targets, {}), abs_max_channels(reference)) < TOLERANCE


def test_captum_guided_backprop_on_the_loaded_artifact_is_silently_the_plain_gradient(
    artifact: LoadedModel, network: Network, batch: torch.Tensor
) -> None:
    """The trap the method's module avoids: the hooks never attach to a ScriptModule, and nothing says so."""
    road = torch.ones(len(batch), 1)
    trapped = GuidedBackprop(artifact.module).attribute(batch, target=0)
    plain = input_gradients(network, batch, road)
    assert relative_error(trapped, plain) < TOLERANCE
    assert relative_error(guided_gradients(network, batch, road), plain) > 0.1


def _guided(forward: Forward, eager: RoadNet, x: torch.Tensor) -> torch.Tensor:
    # Captum finds the ReLU modules to hook on the module it is given: wrap the negation around the eager model.
    if forward is eager:
        return GuidedBackprop(eager).attribute(x, target=0)
    return GuidedBackprop(_Negated(eager)).attribute(x, target=0)


class _Negated(torch.nn.Module):
    def __init__(self, model: RoadNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -self.model(x)


@pytest.mark.parametrize("layer", ["block1", "block2", "block3"])
def test_gradcam_is_captums_layer_gradcam_upsampled(
    eager_model: RoadNet, network: Network, batch: torch.Tensor, targets: torch.Tensor, layer: str
) -> None:
    index = network.block_names.index(layer)
    reference = torch.empty(batch.shape[0], 96, 96)
    for sign in (1.0, -1.0):
        rows = (targets[:, 0] == sign).nonzero()[:, 0]
        model = eager_model if sign > 0 else _Negated(eager_model)
        relu = eager_model.relus[index]
        cams = LayerGradCam(model, relu).attribute(batch[rows], target=0, relu_attributions=True)
        reference[rows] = LayerAttribution.interpolate(cams, (96, 96), interpolate_mode="bilinear")[:, 0].detach()
    ours = gradcam_maps(network, batch, targets, layer)
    assert float(reference.abs().max()) > 0
    assert relative_error(ours, reference) < TOLERANCE


def test_guided_gradcam_is_captums(eager_model: RoadNet, network: Network, batch: torch.Tensor) -> None:
    road = torch.ones(len(batch), 1)
    captum = GuidedGradCam(eager_model, eager_model.relus[3])
    reference = captum.attribute(batch, target=0, interpolate_mode="bilinear").detach()
    ours = guided_gradcam_attributions(network, batch, road, None)
    assert relative_error(ours, reference) < TOLERANCE
