"""VisualBackProp (Bojarski et al., 2016): which input pixels drive the deepest conv activations.

Activations only, no gradients, and class-agnostic: the same mask whatever the output label. Exactly the
reference ``getVisMask``: average each post-ReLU block output over channels, start at the deepest, and going
up one block at a time, upsample with a ones-kernel transposed conv of that block's geometry and multiply by
the next shallower averaged map; upsample the last product to the input size and min-max normalise it.

``normalize_overlap`` divides every upsampled map by the same transposed conv of a map of ones (the number of
overlapping kernel copies per pixel), which removes the periodic block-and-grid texture that 3x3/stride-2
upsampling adds. The faithful mask is the default.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from service.engine.types import BlockGeometry, VBPLayer, VBPOptions
from service.explain.base import Network, Params
from service.explain.common import minmax_normalize, ones_deconv, overlap_count


def _upsample(mask: torch.Tensor, block: BlockGeometry, size_in: tuple[int, int], options: VBPOptions) -> torch.Tensor:
    up = ones_deconv(mask, block, size_in)
    if options.normalize_overlap:
        size_out = (mask.shape[-2], mask.shape[-1])
        count = overlap_count(block, size_out, size_in, dtype=mask.dtype, device=mask.device)
        up = up / count.clamp_min(1.0)  # pixels no window reaches are 0 / 0: keep them 0
    return up


def visualbackprop(
    features: Sequence[torch.Tensor],
    blocks: Sequence[BlockGeometry],
    input_size: tuple[int, int],
    options: VBPOptions,
) -> tuple[torch.Tensor, list[tuple[VBPLayer, ...]]]:
    """Masks for a batch, from each conv block's post-ReLU output (``N x C_i x H_i x W_i``, shallowest first).

    Returns the ``N x H x W`` float32 masks in [0, 1] at ``input_size`` (on the features' device) and, per image,
    the levels deepest first when ``options.keep_layers`` (else empty tuples): each level's channel-averaged map
    and its intermediate mask (the product before upsampling), both min-max normalised for display as the
    reference code does; the mask path itself is never normalised between levels.
    """
    if len(features) != len(blocks) or not blocks:
        raise ValueError(f"got {len(features)} feature maps for {len(blocks)} blocks")
    averaged = [f.float().mean(dim=1) for f in features]
    sizes_in = [input_size, *(b.output_size for b in blocks[:-1])]  # each block's conv input size
    kept: list[tuple[str, torch.Tensor, torch.Tensor]] = []
    mask = averaged[-1]
    for i in range(len(blocks) - 1, -1, -1):
        if i < len(blocks) - 1:
            mask = averaged[i] * mask
        if options.keep_layers:
            kept.append((blocks[i].name, averaged[i], mask))
        mask = _upsample(mask, blocks[i], sizes_in[i], options)
    masks = minmax_normalize(mask)
    return masks, _layers_per_image(kept, masks.shape[0])


def _layers_per_image(kept: list[tuple[str, torch.Tensor, torch.Tensor]], n: int) -> list[tuple[VBPLayer, ...]]:
    if not kept:
        return [() for _ in range(n)]
    levels = [(name, _to_numpy(minmax_normalize(avg)), _to_numpy(minmax_normalize(mask))) for name, avg, mask in kept]
    return [tuple(VBPLayer(name, avg[j], mask[j]) for name, avg, mask in levels) for j in range(n)]


def _to_numpy(maps: torch.Tensor) -> np.ndarray:
    return maps.detach().to("cpu", torch.float32).numpy()


def visualbackprop_method(network: Network, batch: torch.Tensor, targets: torch.Tensor, params: Params) -> torch.Tensor:
    """The registry's face of VisualBackProp: ``N x H x W`` masks in [0, 1]; ``targets`` are ignored.

    One forward pass without autograd; parameter ``normalize_overlap``.
    """
    options = VBPOptions(normalize_overlap=bool(params.get("normalize_overlap", False)))
    with torch.inference_mode():
        _, features = network.module.forward_with_features(batch)
        masks, _ = visualbackprop(features, network.blocks, network.input_size, options)
    return masks
