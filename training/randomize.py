"""Domain randomisation: make synthetic tiles look like any real sensor and processing chain.

Applied to training batches only (after the dihedral flips), on float images in [0, 1], each tile with its own
draw from the run's generator, so training stays deterministic. What real tiles differ in, and what is drawn:

- sensor and product: panchromatic (grey) or colour, a per-tile percentile stretch like a "visual" product,
  gamma, contrast, brightness, per-band gains, saturation;
- optics and processing: Gaussian blur, unsharp masking (pan-sharpened and SPOT-like products), pixel noise,
  column striping (push-broom detectors), haze;
- scale: a random zoom (0.75-1.35x) with reflected borders, so road widths and block sizes vary beyond the
  generator's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class Randomization:
    """Probabilities and ranges of each randomisation (a probability of 0 turns one off)."""

    p_gray: float = 0.35
    p_stretch: float = 0.5
    gamma: tuple[float, float] = (0.6, 1.6)
    contrast: tuple[float, float] = (0.6, 1.5)
    brightness: float = 0.1
    channel_gain: float = 0.1
    saturation: tuple[float, float] = (0.3, 1.4)
    p_blur: float = 0.35
    blur_sigma: tuple[float, float] = (0.4, 1.2)
    p_sharpen: float = 0.25
    p_noise: float = 0.5
    noise: float = 0.05
    p_stripes: float = 0.15
    p_haze: float = 0.15
    p_zoom: float = 0.5
    zoom: tuple[float, float] = (0.75, 1.35)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _chosen(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator) < p


def _blur_matrix(size: int, sigma: float) -> torch.Tensor:
    """The size x size matrix of a 1-D Gaussian blur with reflected borders (so a blur is two small matmuls)."""
    radius = max(1, round(2.5 * sigma))
    offsets = torch.arange(-radius, radius + 1)
    weights = torch.exp(-0.5 * (offsets.float() / sigma) ** 2)
    weights /= weights.sum()
    matrix = torch.zeros(size, size)
    rows = torch.arange(size)
    for offset, weight in zip(offsets.tolist(), weights.tolist(), strict=True):
        cols = (rows + offset).abs()
        cols = torch.where(cols > size - 1, 2 * (size - 1) - cols, cols)
        matrix[rows, cols] += weight
    return matrix


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders."""
    rows, cols = _blur_matrix(images.shape[-2], sigma), _blur_matrix(images.shape[-1], sigma)
    return rows @ images @ cols.T


def zoom(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Zoom each image about its centre by its factor (> 1 enlarges), reflecting at the borders."""
    n = len(images)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / factors
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _filtered(images: torch.Tensor, chosen: torch.Tensor, sigma: float, sharpen: bool) -> torch.Tensor:
    """Blur (or unsharp-mask) the chosen tiles with one sigma per batch (one pair of matmuls, not one per tile)."""
    group = chosen.nonzero(as_tuple=True)[0]
    if not len(group):
        return images
    picked = images[group]
    blurred = gaussian_blur(picked, sigma)
    images[group] = picked + 0.8 * (picked - blurred) if sharpen else blurred
    return images


def randomize(images: torch.Tensor, generator: torch.Generator, config: Randomization) -> torch.Tensor:
    """A randomised copy of N x 3 x H x W images in [0, 1] (see the module docstring)."""
    n = len(images)
    x = images
    if config.p_zoom > 0:
        factors = torch.where(_chosen(n, config.p_zoom, generator), _uniform(n, *config.zoom, generator), 1.0)
        x = zoom(x, factors)
    grey = (x * LUMA).sum(dim=1, keepdim=True)
    saturation = _uniform(n, *config.saturation, generator).view(n, 1, 1, 1)
    saturation = torch.where(_chosen(n, config.p_gray, generator).view(n, 1, 1, 1), 0.0, saturation)
    x = grey + saturation * (x - grey)
    gains = 1.0 + config.channel_gain * torch.randn(n, 3, 1, 1, generator=generator)
    x = x * torch.where(saturation > 0, gains, gains.mean(dim=1, keepdim=True))
    sigma = float(_uniform(1, *config.blur_sigma, generator))
    x = _filtered(x, _chosen(n, config.p_blur, generator), sigma, sharpen=False)
    x = _filtered(x, _chosen(n, config.p_sharpen, generator), float(_uniform(1, 0.6, 1.2, generator)), sharpen=True)
    haze = torch.where(_chosen(n, config.p_haze, generator), _uniform(n, 0.1, 0.4, generator), 0.0).view(n, 1, 1, 1)
    x = x * (1 - haze) + 0.65 * haze
    contrast = _uniform(n, *config.contrast, generator).view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean + config.brightness * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1)
    x = _stretch(x, _chosen(n, config.p_stretch, generator), generator)
    log_low, log_high = (math.log(v) for v in config.gamma)
    gamma = torch.exp(_uniform(n, log_low, log_high, generator)).view(n, 1, 1, 1)
    x = x.clamp(0.0, 1.0) ** gamma
    noise = torch.where(_chosen(n, config.p_noise, generator), _uniform(n, 0.0, config.noise, generator), 0.0)
    x = x + noise.view(n, 1, 1, 1) * torch.randn(x.shape, generator=generator)
    stripes = torch.where(_chosen(n, config.p_stripes, generator), _uniform(n, 0.005, 0.03, generator), 0.0)
    x = x + stripes.view(n, 1, 1, 1) * torch.randn(n, 1, 1, x.shape[-1], generator=generator)
    return x.clamp(0.0, 1.0)


def _stretch(x: torch.Tensor, chosen: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Stretch the chosen tiles between their own 1st-3rd and 97th-99.5th brightness percentiles."""
    n = len(x)
    ordered = x.mean(dim=1)[:, ::3, ::3].reshape(n, -1).sort(dim=1).values  # every 9th pixel is plenty
    last = ordered.shape[1] - 1
    low_at = (_uniform(n, 0.01, 0.03, generator) * last).long().view(n, 1)
    high_at = (_uniform(n, 0.97, 0.995, generator) * last).long().view(n, 1)
    low = ordered.gather(1, low_at).view(n, 1, 1, 1)
    high = ordered.gather(1, high_at).view(n, 1, 1, 1)
    stretched = (x - low) / (high - low).clamp_min(0.05)
    return torch.where(chosen.view(n, 1, 1, 1), stretched, x)
