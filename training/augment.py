"""Augmentations valid for overhead imagery: the 8 symmetries of the square (flips and 90-degree rotations).

A satellite tile has no "up": every dihedral transform of a road tile is another plausible road tile, and the
road mask transforms with it. Colour jitter is left out on purpose: the generator already varies colour.
"""

from __future__ import annotations

import torch


def dihedral(images: torch.Tensor, transform: int) -> torch.Tensor:
    """Transform ``transform`` in 0..7 of N x C x H x W images: ``transform % 4`` quarter turns, then a flip if >= 4."""
    out = torch.rot90(images, k=transform % 4, dims=(-2, -1))
    return torch.flip(out, dims=(-1,)) if transform >= 4 else out


def random_dihedral(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Apply an independently drawn dihedral transform to each image (deterministic given the generator)."""
    choice = torch.randint(0, 8, (len(images),), generator=generator)
    out = torch.empty_like(images)
    for transform in range(8):
        selected = (choice == transform).nonzero(as_tuple=True)[0]
        if len(selected):
            out[selected] = dihedral(images[selected], transform)
    return out
