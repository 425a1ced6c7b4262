"""Reference images for the methods that compare an input with "no signal": occlusion and integrated gradients.

- ``black``: all zeros (Captum's default);
- ``mean``: the training mean colour, the least surprising plain colour for the network;
- ``blur``: the image under a Gaussian blur of ``BLUR_SIGMA`` pixels, which erases thin structures such as
  1-4 px roads while keeping the colours and the layout of the scene.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from service.explain.base import Network
from service.explain.params import BASELINES

__all__ = ["BASELINES", "BLUR_SIGMA", "gaussian_blur", "make_baseline"]
BLUR_SIGMA = 4.0  # pixels at the model's input size: several road widths


def gaussian_blur(batch: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``N x C x H x W`` images, reflecting at the borders."""
    radius = min(math.ceil(3 * sigma), min(batch.shape[-2:]) - 1)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=batch.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(batch.dtype)
    channels = batch.shape[1]
    padded = F.pad(batch, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def make_baseline(kind: str, batch: torch.Tensor, network: Network) -> torch.Tensor:
    """The ``kind`` baseline for every image of ``batch`` (same shape)."""
    if kind == "black":
        return torch.zeros_like(batch)
    if kind == "mean":
        colour = torch.tensor(network.mean, dtype=batch.dtype, device=batch.device).view(1, -1, 1, 1)
        return colour.expand_as(batch).clone()
    if kind == "blur":
        return gaussian_blur(batch, BLUR_SIGMA)
    raise ValueError(f"unknown baseline {kind!r}; accepted: {', '.join(BASELINES)}")
