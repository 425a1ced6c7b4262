"""The evaluation's vocabulary: what is evaluated, and the figures that come out. Imports nothing of this package.

Everything above this module (the evaluation runs, the report, the figures, the CI bars) speaks in these types,
so the report can be written, and the bars checked, without importing the code that computes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from service.engine.types import VBPLayer
from service.explain.base import ParamValue
from service.explain.registry import METHODS, Limits, resolve_params

TIMED_RUNS = 3  # the best of these is reported: on a shared machine, slower runs measure the neighbours


@dataclass(frozen=True)
class RoadTiles:
    """``images``: float32 N x 3 x S x S in [0, 1]; ``masks``: bool N x S x S; where they came from."""

    images: torch.Tensor
    masks: torch.Tensor
    names: list[str]
    source: str


@dataclass(frozen=True)
class Variant:
    """One row of the report: a served method with its parameters (defaults unless given)."""

    label: str
    method: str
    given: dict[str, ParamValue] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, ParamValue]:
        """Every parameter, checked by the registry exactly as for an HTTP request."""
        return resolve_params(METHODS[self.method], self.given, Limits())


VARIANTS = (
    Variant("visualbackprop", "visualbackprop"),
    Variant("visualbackprop (overlap-normalised)", "visualbackprop", {"normalize_overlap": True}),
    Variant("saliency", "saliency"),
    Variant("smoothgrad", "smoothgrad", {"seed": 0}),
    Variant("guided_backprop", "guided_backprop"),
    Variant("gradcam", "gradcam"),
    Variant("guided_gradcam", "guided_gradcam"),
    Variant("occlusion", "occlusion"),
    Variant("integrated_gradients", "integrated_gradients"),
)


@dataclass(frozen=True)
class Options:
    """What to evaluate and how much of it."""

    model_dir: Path
    tiles: int = 96
    sanity_tiles: int = 16
    curve_steps: int = 16
    batch: int = 32
    max_batch: int = 16  # the service's default on CPU (service.engine.device.default_explain_batch)
    data: Path | None = None
    fresh: bool = False  # fresh synthetic tiles even when the validation split is on this machine
    variants: tuple[Variant, ...] = VARIANTS


@dataclass
class Scores:
    """One variant's figures; ``*_untrained`` are the same method on the untrained network."""

    label: str
    pointing: float
    pointing_untrained: float
    mass: float
    mass_untrained: float
    deletion: float
    deletion_untrained: float
    insertion: float
    insertion_untrained: float
    ms_per_image: float
    forward_passes: float = 0.0  # ms_per_image over one forward pass timed in the same rounds
    sanity: list[float] = field(default_factory=list)  # mean Spearman at each randomisation depth, top first


@dataclass
class Evaluation:
    """Everything the report shows about the explanation methods."""

    manifest: dict[str, Any]
    tiles: RoadTiles
    options: Options
    forward_ms: float
    random: Scores
    scores: list[Scores]
    groups: list[str]
    figure_maps: dict[str, tuple[np.ndarray, np.ndarray]]  # label -> (trained, untrained) display maps
    seconds: float


@dataclass(frozen=True)
class Tile:
    """One picture of ``docs/visualbackprop.md``: RGB uint8 H x W x 3, its true label, and where it comes from."""

    image: np.ndarray
    road: bool
    source: str


@dataclass(frozen=True)
class Explained:
    """A tile with the model's road probability, both VisualBackProp masks and the levels of the faithful one."""

    tile: Tile
    probability: float
    faithful: np.ndarray
    normalised: np.ndarray
    levels: tuple[VBPLayer, ...]


@dataclass(frozen=True)
class LabelledTiles:
    """Tiles with and without roads: ``images`` uint8 N x 3 x S x S, ``masks`` bool N x S x S (empty on road-free
    tiles), ``road`` bool N (the tile's label), their names and where they came from."""

    images: np.ndarray
    masks: np.ndarray
    road: np.ndarray
    names: list[str]
    source: str

    def pixels(self, rows: slice | np.ndarray) -> torch.Tensor:
        """Those tiles as the network's float input in [0, 1]."""
        return torch.from_numpy(self.images[rows]).float().div_(255.0)


@dataclass(frozen=True)
class MaskScores:
    """How a rule's road masks match the true ones.

    ``precision`` and ``recall`` are relaxed (Mnih & Hinton, 2010): a predicted pixel counts when a true road
    pixel lies within ``slack`` pixels of it, and the other way round; pooled over every tile (road-free tiles
    add to the predicted pixels only). ``iou``: mean strict intersection over union on road tiles.
    ``length_error``: median |predicted - true| / true skeleton length on road tiles. ``free_share``: median and
    mean share of a road-free tile's pixels called road.
    """

    precision: float
    recall: float
    f1: float
    iou: float
    length_error: float
    free_share: float
    free_share_mean: float
    road_tiles: int
    free_tiles: int


@dataclass(frozen=True)
class RuleScores:
    """One row of the segmentation table: a map and a threshold rule, on the trained and the untrained network."""

    method: str
    rule: str
    trained: MaskScores
    untrained: MaskScores
    ms_per_tile: float  # the rule's own time per tile the model calls road (the map not included)


@dataclass
class Segmentation:
    """Everything the report says about ``POST /segment``'s masks."""

    served: dict[str, Any]  # the manifest's rule, as served
    tiles: LabelledTiles
    calibration: str  # where the calibration tiles came from
    rows: list[RuleScores]
    examples: dict[str, np.ndarray]  # label -> masks of the figure tiles (bool K x S x S)
    example_rows: list[int]
    seconds: float


@dataclass(frozen=True)
class ClassModelImage:
    """One class-model image: the network it was made for, the target, the score the network gives it and how long
    it took."""

    network: str  # "trained" or "untrained"
    target: str
    image: np.ndarray  # H x W x 3 float32 in [0, 1]
    probability: float  # the network's road probability of the image
    seconds: float
    steps: int
    seed: int
