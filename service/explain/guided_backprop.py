"""Guided backpropagation (Springenberg et al., 2014): the gradient with every ReLU passing back only positive
gradients, and only where its forward input was positive.

The artifact's stages are called one by one with a ReLU whose backward is replaced (``GuidedReLU``), so it
works on a ``torch.jit.load``ed model, where hook-based libraries silently fall back to the plain gradient.
"""

from __future__ import annotations

from typing import Any

import torch

from service.explain.base import Network, Params, abs_max_channels, input_gradients


class GuidedReLU(torch.autograd.Function):
    """ReLU forward; backward keeps a gradient only where it is positive and the ReLU was active."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        """Plain ReLU, remembering where it was active."""
        out = x.clamp(min=0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        """Positive gradients at active units, zero elsewhere."""
        (out,) = ctx.saved_tensors
        return grad.clamp(min=0) * (out > 0).to(grad.dtype)


def guided_relu(x: torch.Tensor) -> torch.Tensor:
    """``GuidedReLU`` as a plain function, to pass as the stages' activation."""
    result: torch.Tensor = GuidedReLU.apply(x)
    return result


def guided_gradients(network: Network, batch: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The guided gradient w.r.t. the input, ``N x 3 x H x W`` (what Captum's ``GuidedBackprop`` returns)."""
    return input_gradients(network, batch, targets, relu=guided_relu)


def guided_backprop(network: Network, batch: torch.Tensor, targets: torch.Tensor, params: Params) -> torch.Tensor:
    """``N x H x W``: the guided gradient's largest magnitude over colour channels (no parameters)."""
    return abs_max_channels(guided_gradients(network, batch, targets))
