"""Guided Grad-CAM (Selvaraju et al., 2016): guided backpropagation times the upsampled Grad-CAM map.

Guided backprop gives pixel-level detail but hardly depends on the target; Grad-CAM is coarse but
target-specific. Their product keeps fine detail only where Grad-CAM says the evidence is.
"""

from __future__ import annotations

import torch

from service.explain.base import Network, Params, abs_max_channels, param
from service.explain.gradcam import gradcam_maps
from service.explain.guided_backprop import guided_gradients


def guided_gradcam_attributions(
    network: Network, batch: torch.Tensor, targets: torch.Tensor, layer: str | None
) -> torch.Tensor:
    """``N x 3 x H x W``: the guided gradient scaled per pixel by Grad-CAM (Captum's ``GuidedGradCam``)."""
    return guided_gradients(network, batch, targets) * gradcam_maps(network, batch, targets, layer)[:, None]


def guided_gradcam(network: Network, batch: torch.Tensor, targets: torch.Tensor, params: Params) -> torch.Tensor:
    """``N x H x W``: the largest magnitude over colour channels; parameter ``layer`` as for Grad-CAM."""
    layer = params.get("layer")
    chosen = None if layer is None else param(params, "layer", str)
    return abs_max_channels(guided_gradcam_attributions(network, batch, targets, chosen))
