"""Integrated gradients (Sundararajan et al., 2017): the gradient averaged along the straight path from a
baseline to the image, times (image - baseline).

The path integral uses Gauss-Legendre quadrature with ``steps`` nodes (Captum's default rule), so the
attributions of all pixels and channels sum to about ``score(image) - score(baseline)`` (completeness). The
map sums the colour channels and is signed: positive pixels raise the score. The ``N x steps`` path points are
packed into device batches of ``network.max_batch``.
"""

from __future__ import annotations

import numpy as np
import torch

from service.explain.base import Network, Params, expanded_rows, gradient_of_scores, param
from service.explain.baselines import make_baseline


def gauss_legendre(steps: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes in [0, 1] and their weights (summing to 1) of the ``steps``-point Gauss-Legendre rule."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas = torch.tensor(0.5 * (nodes + 1.0), dtype=torch.float32, device=device)
    return alphas, torch.tensor(0.5 * weights, dtype=torch.float32, device=device)


def ig_attributions(
    network: Network, batch: torch.Tensor, targets: torch.Tensor, steps: int, baseline: torch.Tensor
) -> torch.Tensor:
    """``N x 3 x H x W`` integrated gradients from ``baseline`` (Captum's ``IntegratedGradients``)."""
    alphas, weights = gauss_legendre(steps, batch.device)
    delta = batch - baseline
    total = torch.zeros(batch.shape, dtype=torch.float32, device=batch.device)
    for part in network.parts(batch.shape[0] * steps):
        image, step = expanded_rows(part, steps, batch.device)
        points = baseline[image] + alphas[step].view(-1, 1, 1, 1) * delta[image]
        grads = gradient_of_scores(network, points, targets[image])
        total.index_add_(0, image, grads * weights[step].view(-1, 1, 1, 1))
    return total * delta


def integrated_gradients(network: Network, batch: torch.Tensor, targets: torch.Tensor, params: Params) -> torch.Tensor:
    """``N x H x W`` signed maps (channels summed); parameters ``steps`` and ``baseline``."""
    baseline = make_baseline(param(params, "baseline", str), batch, network)
    return ig_attributions(network, batch, targets, param(params, "steps", int), baseline).sum(dim=1)
