"""How good is an explanation map? Localisation against road masks, faithfulness curves, rank correlation.

- **pointing game** (Zhang et al., 2016): is the map's maximum on the road (mask dilated by 2 px)?
- **road mass**: the share of the map's total inside the dilated mask, divided by the mask's share of the
  area: 1 is what a uniform map scores, higher is better.
- **deletion / insertion AUC** (Petsiuk et al., RISE, 2018): remove the most important pixels first (set to
  black) and follow the probability down (lower area is better); or insert them first into a blurred copy and
  follow it up (higher is better). Ties in the map are broken in a fixed random order.
- **Spearman rank correlation** with average ranks for ties, for the sanity check of Adebayo et al. (2018).

Maps are ``N x H x W`` float tensors, non-negative (the display maps) for the localisation metrics.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from service.explain.base import Network, chunks, scores
from service.explain.baselines import gaussian_blur

DILATION = 2  # pixels: roads are 1-4 px wide and maps are rarely sharper than that
RISE_BLUR_SIGMA = 5.0  # the insertion curve's starting image, as in RISE


def dilate(masks: torch.Tensor, radius: int = DILATION) -> torch.Tensor:
    """Boolean ``N x H x W`` masks grown by ``radius`` pixels in every direction (a square neighbourhood)."""
    grown = F.max_pool2d(masks[:, None].float(), 2 * radius + 1, stride=1, padding=radius)
    return grown[:, 0] > 0


def pointing_game(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """1.0 where the map's maximum lies in the mask (a map with no positive value misses), per image."""
    flat = maps.flatten(1)
    peak = flat.argmax(dim=1)
    inside = masks.flatten(1)[torch.arange(len(peak)), peak]
    return (inside & (flat.amax(dim=1) > 0)).float()


def road_mass(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share of the map inside the mask over the mask's share of the area, per image (1.0 for an empty map)."""
    flat, inside = maps.flatten(1).clamp(min=0), masks.flatten(1).float()
    total = flat.sum(dim=1)
    share = (flat * inside).sum(dim=1) / total.clamp_min(torch.finfo(flat.dtype).tiny)
    ratio = share / inside.mean(dim=1).clamp_min(1e-12)
    return torch.where(total > 0, ratio, torch.ones_like(ratio))


def importance_ranks(maps: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Each pixel's position in the removal order (0 = most important), ties broken in a fixed random order."""
    n, pixels = maps.shape[0], maps[0].numel()
    jitter = torch.rand((n, pixels), generator=torch.Generator().manual_seed(seed))
    values = maps.flatten(1).double().cpu().numpy()
    order = np.stack([np.lexsort((jitter[i].numpy(), -values[i])) for i in range(n)])
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(pixels)[None].repeat(n, axis=0), axis=1)
    return torch.from_numpy(ranks).view(maps.shape)


def _probability_curve(
    network: Network, images: torch.Tensor, start: torch.Tensor, targets: torch.Tensor, ranks: torch.Tensor, steps: int
) -> torch.Tensor:
    """``N x (steps + 1)``: the target's probability as the top-ranked pixels of ``images`` replace ``start``."""
    pixels = ranks[0].numel()
    shown = torch.stack([ranks < round(k * pixels / steps) for k in range(steps + 1)], dim=1)  # N x S x H x W
    flat_shown = shown.flatten(0, 1)[:, None]
    rows = torch.arange(images.shape[0]).repeat_interleave(steps + 1)
    probabilities = torch.empty(len(rows))
    with torch.inference_mode():
        for part in chunks(len(rows), network.max_batch):
            mixed = torch.where(flat_shown[part], images[rows[part]], start[rows[part]])
            probabilities[part] = torch.sigmoid(scores(network.module.forward(mixed), targets[rows[part]])).cpu()
    return probabilities.view(images.shape[0], steps + 1)


def _auc(curve: torch.Tensor) -> torch.Tensor:
    """Trapezoidal area under ``N x (steps + 1)`` curves over [0, 1]."""
    return (curve[:, 1:] + curve[:, :-1]).mean(dim=1) / 2


def deletion_insertion(
    network: Network, images: torch.Tensor, targets: torch.Tensor, maps: torch.Tensor, steps: int = 16
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image deletion AUC (lower is better) and insertion AUC (higher is better) of ``maps``' pixel order."""
    ranks = importance_ranks(maps)
    blurred = gaussian_blur(images, RISE_BLUR_SIGMA)
    deleted = _probability_curve(network, torch.zeros_like(images), images, targets, ranks, steps)
    inserted = _probability_curve(network, images, blurred, targets, ranks, steps)
    return _auc(deleted), _auc(inserted)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of a 1-D array, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, len(values)])
    group_rank = starts + (counts - 1) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(group_rank, counts)
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps (0.0 when either is constant)."""
    ra, rb = average_ranks(a.ravel()), average_ranks(b.ravel())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    norm = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / norm) if norm > 0 else 0.0
