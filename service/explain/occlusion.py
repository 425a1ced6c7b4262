"""Occlusion sensitivity (Zeiler & Fergus, 2014): how much the score drops when a square of the image is
replaced by a baseline, for a square slid over the whole image.

Windows of ``window x window`` pixels start every ``stride`` pixels, the last one in each direction clipped at
the border so every pixel is covered (Captum's ``Occlusion`` layout). A pixel's value is the mean drop over the
windows that cover it: signed, positive where hiding the pixel lowers the score. Every window of every image is
one forward pass; they are packed into device batches of ``network.max_batch``.
"""

from __future__ import annotations

import math

import torch

from service.explain.base import Network, Params, expanded_rows, param, scores
from service.explain.baselines import make_baseline


def window_masks(size: tuple[int, int], window: int, stride: int, device: torch.device) -> torch.Tensor:
    """``P x H x W`` boolean masks, one per window position, row-major."""
    starts = [[k * stride for k in range(math.ceil(max(n - window, 0) / stride) + 1)] for n in size]
    masks = torch.zeros((len(starts[0]) * len(starts[1]), *size), dtype=torch.bool, device=device)
    for p, (top, left) in enumerate((t, s) for t in starts[0] for s in starts[1]):
        masks[p, top : top + window, left : left + window] = True
    return masks


def occlusion_maps(
    network: Network, batch: torch.Tensor, targets: torch.Tensor, window: int, stride: int, baseline: torch.Tensor
) -> torch.Tensor:
    """``N x H x W`` mean score drop over the windows covering each pixel."""
    masks = window_masks(network.input_size, window, stride, batch.device)
    positions = masks.shape[0]
    drops = torch.empty((batch.shape[0], positions), dtype=torch.float32, device=batch.device)
    with torch.inference_mode():
        reference = scores(network.module.forward(batch), targets)
        for part in network.parts(batch.shape[0] * positions):
            image, position = expanded_rows(part, positions, batch.device)
            hidden = torch.where(masks[position][:, None], baseline[image], batch[image])
            drops[image, position] = reference[image] - scores(network.module.forward(hidden), targets[image])
    covered = masks.float()
    return torch.einsum("np,phw->nhw", drops, covered) / covered.sum(dim=0).clamp_min(1.0)


def occlusion(network: Network, batch: torch.Tensor, targets: torch.Tensor, params: Params) -> torch.Tensor:
    """``N x H x W`` signed maps; parameters ``window``, ``stride`` and ``baseline``."""
    baseline = make_baseline(param(params, "baseline", str), batch, network)
    return occlusion_maps(network, batch, targets, param(params, "window", int), param(params, "stride", int), baseline)
