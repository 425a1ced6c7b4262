"""Plain reference computations on the eager network (forward hooks), to compare the service against."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from training.model import BlockSpec, RoadNet


def eager_outputs(model: RoadNet, image: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sigmoid probabilities and every block's post-ReLU maps (hooks on ``model.relus[i]``) for one image."""
    maps: dict[str, np.ndarray] = {}
    handles = [
        model.relus[i].register_forward_hook(
            lambda _m, _i, out, name=spec.name: maps.__setitem__(name, out[0].detach().numpy().copy())
        )
        for i, spec in enumerate(model.config.blocks)
    ]
    try:
        with torch.no_grad():
            logits = model(torch.from_numpy(image)[None])
    finally:
        for handle in handles:
            handle.remove()
    return torch.sigmoid(logits)[0].numpy(), maps


def _ones_deconv(mask: torch.Tensor, block: BlockSpec, target: tuple[int, int]) -> torch.Tensor:
    """Transposed conv with an all-ones kernel and the block's geometry, landing exactly on ``target``."""
    pad = [(t + 2 * block.padding - block.kernel) % block.stride for t in target]
    weight = torch.ones(1, 1, block.kernel, block.kernel)
    return F.conv_transpose2d(mask, weight, stride=block.stride, padding=block.padding, output_padding=pad)


def reference_vbp(model: RoadNet, image: np.ndarray, normalize_overlap: bool = False) -> np.ndarray:
    """VisualBackProp written out plainly from the paper, on the eager network's hooked maps."""
    _, maps = eager_outputs(model, image)
    blocks = model.config.blocks
    averaged = [torch.from_numpy(maps[b.name]).mean(dim=0)[None, None] for b in blocks]
    mask = averaged[-1]
    for i in range(len(blocks) - 1, -1, -1):
        target = tuple(averaged[i - 1].shape[-2:]) if i > 0 else tuple(image.shape[-2:])
        upsampled = _ones_deconv(mask, blocks[i], target)  # type: ignore[arg-type]
        if normalize_overlap:
            upsampled = upsampled / _ones_deconv(torch.ones_like(mask), blocks[i], target).clamp_min(1.0)  # type: ignore[arg-type]
        mask = averaged[i - 1] * upsampled if i > 0 else upsampled
    result = mask[0, 0].numpy()
    return (result - result.min()) / (result.max() - result.min())
