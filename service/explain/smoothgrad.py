"""SmoothGrad (Smilkov et al., 2017): the saliency map averaged over noisy copies of the image.

Each copy adds Gaussian noise of standard deviation ``sigma x (max - min)`` of that image's values, so
``sigma`` is a fraction of the input range (Smilkov et al. recommend 0.1-0.2). The ``samples`` noise patterns
are drawn once per call from ``seed`` on the CPU, so an image's map depends only on the image, the parameters and
the seed: not on the other images it was batched with, nor on the device. Without a seed they are random.
The ``N x samples`` noisy copies are packed into device batches of ``network.max_batch``.
"""

from __future__ import annotations

import torch

from service.explain.base import (
    Network,
    Params,
    abs_max_channels,
    expanded_rows,
    gradient_of_scores,
    param,
)


def noise_patterns(samples: int, shape: torch.Size, seed: int | None) -> torch.Tensor:
    """``samples`` standard normal patterns of ``shape``, reproducible when ``seed`` is given."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return torch.randn((samples, *shape), generator=generator)


def smoothgrad_maps(
    network: Network, batch: torch.Tensor, targets: torch.Tensor, samples: int, sigma: float, seed: int | None
) -> torch.Tensor:
    """``N x H x W``: the mean over ``samples`` noisy copies of the saliency map (max |gradient| over colours)."""
    n = batch.shape[0]
    noise = noise_patterns(samples, batch.shape[1:], seed).to(batch.device, batch.dtype)
    spread = sigma * (batch.flatten(1).amax(dim=1) - batch.flatten(1).amin(dim=1))
    total = torch.zeros((n, *batch.shape[-2:]), dtype=torch.float32, device=batch.device)
    for part in network.parts(n * samples):
        image, copy = expanded_rows(part, samples, batch.device)
        noisy = batch[image] + spread[image].view(-1, 1, 1, 1) * noise[copy]
        total.index_add_(0, image, abs_max_channels(gradient_of_scores(network, noisy, targets[image])))
    return total / samples


def smoothgrad(network: Network, batch: torch.Tensor, targets: torch.Tensor, params: Params) -> torch.Tensor:
    """``N x H x W`` SmoothGrad maps; parameters ``samples``, ``sigma``, ``seed`` (None: random)."""
    seed = params.get("seed")
    return smoothgrad_maps(
        network,
        batch,
        targets,
        param(params, "samples", int),
        param(params, "sigma", float),
        None if seed is None else param(params, "seed", int),
    )
