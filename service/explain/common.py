"""Shared helpers of the explanation methods: min-max normalisation and the ones-kernel upsampling.

Maps here are batched float tensors ``N x H x W`` on any device; nothing leaves the device.
"""

from __future__ import annotations

import functools

import torch

from service.engine.types import BlockGeometry

# A map whose range is below this fraction of its magnitude is treated as constant: normalising it would
# only amplify rounding noise (or divide by zero), so it becomes all zeros instead of NaN or random texture.
RELATIVE_EPSILON = 1e-6


def minmax_normalize(maps: torch.Tensor, relative_epsilon: float = RELATIVE_EPSILON) -> torch.Tensor:
    """Each ``N x H x W`` map scaled to [0, 1]; a constant (or all-zero) map gives zeros, never NaN."""
    flat = maps.flatten(1)
    low = flat.amin(dim=1).view(-1, 1, 1)
    high = flat.amax(dim=1).view(-1, 1, 1)
    spread = high - low
    scale = torch.maximum(high.abs(), low.abs())
    varies = spread > relative_epsilon * scale
    safe = torch.where(varies, spread, torch.ones_like(spread))
    # Filling the constant maps in place: the same values as a where() over a zeros_like, in half the time.
    return ((maps - low) / safe).masked_fill_(~varies, 0.0)


def output_padding(size_in: int, kernel: int, stride: int, padding: int) -> int:
    """The transposed convolution's ``output_padding`` that lands exactly on ``size_in`` (one axis)."""
    return (size_in + 2 * padding - kernel) % stride


@functools.lru_cache(maxsize=256)
def spread_matrix(
    size_out: int, size_in: int, kernel: int, stride: int, padding: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """``size_in x size_out`` 0/1 matrix: entry (r, i) is 1 when input pixel ``i``'s kernel window covers ``r``.

    Cached: building one takes about 60 microseconds of small tensor operations, and a mask needs two per level
    on every call (measured: 0.5 of the 0.9 ms one single-image VisualBackProp call took). Never modify the result.
    """
    with torch.inference_mode(False):  # a normal tensor, so gradient methods may use it after an inference call
        offset = (
            torch.arange(size_in, device=device)[:, None] + padding - stride * torch.arange(size_out, device=device)
        )
        return ((offset >= 0) & (offset < kernel)).to(dtype)


def ones_deconv(maps: torch.Tensor, block: BlockGeometry, size_in: tuple[int, int]) -> torch.Tensor:
    """Upsample ``N x h x w`` maps to ``size_in`` with a ones-kernel transposed conv of ``block``'s geometry.

    Bias 0, same kernel, stride and padding as the block's conv: each input pixel spreads its value over the
    kernel window it was computed from, summing where windows overlap. An all-ones kernel is separable, so the
    transposed convolution is two small matrix products, ``rows @ maps @ cols.T``: the same sums, but far
    faster on a CPU than a one-channel ``conv_transpose2d``, which PyTorch runs on a slow generic path.
    """
    small = tuple(maps.shape[-2:])
    for axis in range(2):
        lowest = (small[axis] - 1) * block.stride[axis] - 2 * block.padding[axis] + block.kernel[axis]
        if not lowest <= size_in[axis] < lowest + block.stride[axis]:
            raise ValueError(
                f"block {block.name}: upsampling {small} cannot give {tuple(size_in)} (at most "
                f"{block.stride[axis] - 1} extra rows of output padding); the manifest's geometry is inconsistent"
            )
    rows, cols = (
        spread_matrix(
            small[axis],
            size_in[axis],
            block.kernel[axis],
            block.stride[axis],
            block.padding[axis],
            maps.dtype,
            maps.device,
        )
        for axis in range(2)
    )
    # A 1x1, stride-1, unpadded block spreads nothing (its matrix is the identity): skip that product, exactly.
    if not _is_identity(block, small, size_in, axis=0):
        maps = rows @ maps
    if not _is_identity(block, small, size_in, axis=1):
        maps = maps @ cols.T
    return maps


def _is_identity(block: BlockGeometry, small: tuple[int, ...], size_in: tuple[int, int], axis: int) -> bool:
    return (
        block.kernel[axis] == 1
        and block.stride[axis] == 1
        and block.padding[axis] == 0
        and small[axis] == size_in[axis]
    )


def overlap_count(
    block: BlockGeometry,
    size_out: tuple[int, int],
    size_in: tuple[int, int],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | None = None,
) -> torch.Tensor:
    """How many kernel copies ``ones_deconv`` sums at each pixel of ``size_in`` (a ``1 x H x W`` map)."""
    ones = torch.ones(1, *size_out, dtype=dtype, device=device)
    return ones_deconv(ones, block, size_in)


def display_maps(maps: torch.Tensor, signed: bool) -> torch.Tensor:
    """Maps for display in [0, 1]: min-max for unsigned methods; for signed ones the positive part (evidence for
    the target) divided by its maximum, so that 0 stays 0 (ask for the opposite target to see the rest)."""
    if not signed:
        return minmax_normalize(maps)
    positive = maps.clamp(min=0)
    peak = positive.flatten(1).amax(dim=1).view(-1, 1, 1)
    return torch.where(peak > 0, positive / peak.clamp_min(torch.finfo(maps.dtype).tiny), torch.zeros_like(positive))
