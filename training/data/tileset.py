"""The in-memory dataset every loader returns, and Planet's tag vocabulary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

# The 17 tags of Planet's "Understanding the Amazon from Space" data, in their usual (alphabetical) order.
ALL_PLANET_TAGS: tuple[str, ...] = (
    "agriculture",
    "artisinal_mine",
    "bare_ground",
    "blooming",
    "blow_down",
    "clear",
    "cloudy",
    "conventional_mine",
    "cultivation",
    "habitation",
    "haze",
    "partly_cloudy",
    "primary",
    "road",
    "selective_logging",
    "slash_burn",
    "water",
)
DEFAULT_LABELS: tuple[str, ...] = ("road",)


@dataclass
class TileSet:
    """A labelled set of square RGB tiles, ready for training.

    ``images``: uint8 N x 3 x S x S; ``targets``: float32 N x len(labels), multi-hot; ``names``: one per tile;
    ``masks``: bool N x S x S road masks when the data has them, else None.
    """

    images: torch.Tensor
    targets: torch.Tensor
    names: list[str]
    labels: tuple[str, ...]
    masks: torch.Tensor | None = None

    def __post_init__(self) -> None:
        n = len(self.names)
        if self.images.dtype != torch.uint8 or self.images.ndim != 4 or self.images.shape[:2] != (n, 3):
            raise ValueError(
                f"images must be uint8 N x 3 x S x S with N={n}, got {self.images.dtype} {self.images.shape}"
            )
        if self.targets.shape != (n, len(self.labels)):
            raise ValueError(f"targets must be {n} x {len(self.labels)}, got {tuple(self.targets.shape)}")
        if self.masks is not None and self.masks.shape != (n, *self.images.shape[2:]):
            raise ValueError(f"masks must be N x S x S, got {tuple(self.masks.shape)}")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def size(self) -> int:
        """The tiles' side in pixels."""
        return int(self.images.shape[-1])

    def subset(self, indices: Sequence[int] | NDArray[np.int64] | torch.Tensor) -> TileSet:
        """The tiles at ``indices``, in that order (e.g. a split from :func:`split_indices`)."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return TileSet(
            images=self.images[idx],
            targets=self.targets[idx],
            names=[self.names[i] for i in idx.tolist()],
            labels=self.labels,
            masks=None if self.masks is None else self.masks[idx],
        )


def multi_hot(tags: Sequence[Sequence[str]], labels: Sequence[str]) -> torch.Tensor:
    """float32 N x len(labels): 1 where a tile's tags contain the label."""
    column = {label: j for j, label in enumerate(labels)}
    targets = np.zeros((len(tags), len(labels)), dtype=np.float32)
    for i, tile_tags in enumerate(tags):
        targets[i, [column[t] for t in tile_tags if t in column]] = 1.0
    return torch.from_numpy(targets)
