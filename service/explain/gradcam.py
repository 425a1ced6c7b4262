"""Grad-CAM (Selvaraju et al., 2016): a conv block's channels weighted by the spatial mean of the score's
gradient w.r.t. them, summed, passed through a ReLU, and upsampled (bilinear) to the input size.

The block is the ``layer`` parameter (default: the deepest, whose 12 x 12 maps are the coarsest but the most
class-specific). This network's global max-pool sends the gradient of each channel to its maximum only, so the
weights are sparse means; the method still applies, unlike CAM (see ``registry``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from service.explain.base import Network, Params, forward_stages, param, scores


def block_index(network: Network, layer: str | None) -> int:
    """Index of the conv block named ``layer`` (None: the deepest)."""
    return len(network.blocks) - 1 if layer is None else network.block_names.index(layer)


def layer_cams(network: Network, batch: torch.Tensor, targets: torch.Tensor, index: int) -> torch.Tensor:
    """Grad-CAM at block ``index``'s resolution (``N x h x w``), ReLU applied, before upsampling."""
    cams = []
    with torch.enable_grad():
        for part in network.parts(batch.shape[0]):
            # The input asks for a gradient so the graph exists even if the artifact's weights are frozen.
            xs = batch[part].detach().float().requires_grad_(True)
            logits, activations = forward_stages(network, xs)
            a = activations[index]
            (grad,) = torch.autograd.grad(scores(logits, targets[part]).sum(), a)
            weights = grad.mean(dim=(2, 3), keepdim=True)
            cams.append(torch.relu((weights * a).sum(dim=1)).detach())
    return torch.cat(cams)


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``N x h x w`` maps to ``N x H x W`` with bilinear interpolation (half-pixel centres)."""
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def gradcam_maps(network: Network, batch: torch.Tensor, targets: torch.Tensor, layer: str | None) -> torch.Tensor:
    """Grad-CAM of block ``layer`` upsampled to the input size, ``N x H x W``, non-negative."""
    return upsample(layer_cams(network, batch, targets, block_index(network, layer)), network.input_size)


def gradcam(network: Network, batch: torch.Tensor, targets: torch.Tensor, params: Params) -> torch.Tensor:
    """``N x H x W`` Grad-CAM maps; parameter ``layer`` (a block name, or None for the deepest)."""
    layer = params.get("layer")
    return gradcam_maps(network, batch, targets, None if layer is None else param(params, "layer", str))
