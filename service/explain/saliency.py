"""Vanilla gradient saliency (Simonyan et al., 2013): how much a small change of each pixel moves the score.

The map is ``|d score / d x|``, the largest magnitude over the three colour channels. One forward and one
backward pass per device batch, whatever the number of images.
"""

from __future__ import annotations

import torch

from service.explain.base import Network, Params, abs_max_channels, input_gradients


def saliency(network: Network, batch: torch.Tensor, targets: torch.Tensor, params: Params) -> torch.Tensor:
    """``N x H x W`` non-negative gradient magnitudes (no parameters)."""
    return abs_max_channels(input_gradients(network, batch, targets))
