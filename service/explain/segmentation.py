"""Road masks from the classifier's own evidence: where the model looked, refined to the light lines it saw there.

Weakly supervised localisation in the manner of Simonyan et al. (2013): a map of the evidence for the decision
(here VisualBackProp, overlap-normalised) says *where* the road is; the image says *which pixels*. For a tile the
model calls road (the caller gates on the prediction: a road-free tile gets an empty mask):

1. **Region**: the pixels whose evidence is at least ``evidence`` (the map is scaled to [0, 1] per image),
   grown by ``grow`` pixels.
2. **Lines**: the white top-hat of the image's luminance (luminance minus its grey opening with a
   ``2 * line_radius + 1`` square), which keeps what is lighter than its surroundings and narrower than the square:
   roads read as light lines.
3. **Threshold**: Otsu's threshold of the top-hat inside the region, times ``contrast``. Otsu splits each tile's
   own values in two, so nothing here knows how much road a tile holds.
4. **Cleaning**: pieces (8-connected) that span less than ``min_length`` pixels (their bounding box's diagonal)
   are dropped: houses, field texture and noise are short; roads cross the tile. (The skeleton's length would do as
   well, measured: relaxed F1 0.905 vs 0.909 on 300 + 300 validation tiles, at twice the cost.)

Every number is a field of ``SegmentRule``; ``python -m training.explanations.calibrate`` chooses them per model on
tiles with true road masks and stores them in the manifest (``segmentation``), and docs/explanations.md shows how
each step and rule scores. numpy and ``scipy.ndimage`` only: this runs in the HTTP front-end's image threads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
from scipy import ndimage

from service.explain.registry import METHODS
from service.explain.roads import label_pieces

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601
OTSU_BINS = 256
MAX_RADIUS = 16  # pixels: the structuring elements stay small next to a tile


@dataclass(frozen=True)
class SegmentRule:
    """How a road mask is cut from an evidence map and its image (see the module docstring for each step).

    The defaults are the shipped model's calibration (roadnet 1), for a model whose manifest has no rule.
    """

    method: str = "visualbackprop"
    normalize_overlap: bool = True
    evidence: float = 0.15
    grow: int = 2
    line_radius: int = 2
    contrast: float = 0.6
    min_length: float = 20.0
    calibrated: bool = False  # True when the numbers were measured for this model (the manifest's)

    def to_manifest(self) -> dict[str, Any]:
        """The rule as the manifest's ``segmentation`` entry."""
        return asdict(self)

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> SegmentRule:
        """The manifest's rule (its ``segmentation`` entry), defaults for what it does not say.

        ``ValueError`` for a malformed entry: a value of the wrong type or outside its range, or an unknown method.
        """
        entry = manifest.get("segmentation")
        if entry is None:
            return cls()
        if not isinstance(entry, dict):
            raise ValueError(f"the manifest's segmentation entry is not an object: {entry!r}")
        defaults = cls()
        given: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in entry:
                given[f.name] = _typed(f.name, entry[f.name], type(getattr(defaults, f.name)))
        rule = replace(defaults, **given)
        rule.check()
        return rule

    def check(self) -> None:
        """``ValueError`` unless every value is in its range and the method is one the service serves."""
        if self.method not in METHODS:
            raise ValueError(f"segmentation.method {self.method!r} is not one of {', '.join(METHODS)}")
        if not (0.0 <= self.evidence <= 1.0 and self.contrast > 0 and self.min_length >= 0):
            raise ValueError(f"segmentation values out of range: {self}")
        if not (0 <= self.grow <= MAX_RADIUS and 1 <= self.line_radius <= MAX_RADIUS):
            raise ValueError(f"segmentation radii must lie in [0, {MAX_RADIUS}]: {self}")


def _typed(name: str, value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (an integer is a valid float, a boolean is not a number); ``ValueError`` otherwise."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is float and number:
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise ValueError(f"segmentation.{name} must be {kind.__name__}, got {value!r}")


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """A boolean mask grown by ``radius`` pixels in every direction (a ``2 * radius + 1`` square)."""
    return _square_reduce(mask, radius, np.logical_or, False)


def grey_opening(values: np.ndarray, radius: int) -> np.ndarray:
    """Grey opening with a ``2 * radius + 1`` square: the sliding minimum, then the sliding maximum of that."""
    eroded = _square_reduce(values, radius, np.minimum, np.inf)
    return _square_reduce(eroded, radius, np.maximum, -np.inf)


def _square_reduce(values: np.ndarray, radius: int, reduce: np.ufunc, edge: float | bool) -> np.ndarray:
    """``reduce`` over the ``2 * radius + 1`` square around every pixel; outside the array counts as ``edge``."""
    if radius <= 0:
        return values
    down = _window_rows(values, radius, reduce, edge)
    return np.ascontiguousarray(_window_rows(np.ascontiguousarray(down.T), radius, reduce, edge).T)


def _window_rows(values: np.ndarray, radius: int, reduce: np.ufunc, edge: float | bool) -> np.ndarray:
    """``reduce`` over the ``2 * radius + 1`` rows around every row, by doubling: windows of 1, 2, 4... rows,
    then two overlapping windows for the last step (a few whole-array operations whatever the radius)."""
    height, window = values.shape[0], 2 * radius + 1
    padded = np.full((height + 2 * radius, *values.shape[1:]), edge, dtype=values.dtype)
    padded[radius : radius + height] = values
    span, reduced = 1, padded
    while 2 * span <= window:
        reduced = reduce(reduced[:-span], reduced[span:])
        span *= 2
    if span < window:
        reduced = reduce(reduced[:height], reduced[window - span : window - span + height])
    return reduced[:height]


def line_strength(image: np.ndarray, radius: int) -> np.ndarray:
    """White top-hat of the luminance of a ``3 x H x W`` image in [0, 1]: how much lighter than its surroundings
    each pixel is, for structures narrower than ``2 * radius + 1`` pixels."""
    luminance = np.tensordot(LUMA, image.astype(np.float32, copy=False), axes=1)
    return luminance - grey_opening(luminance, radius)


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold of non-negative ``values`` (256 bins over [0, max]); +inf when there is nothing to split."""
    values = values.ravel()
    top = float(values.max()) if values.size else 0.0
    if top <= 0.0:
        return float("inf")
    bins = np.minimum((values * (OTSU_BINS / top)).astype(np.intp), OTSU_BINS - 1)
    counts = np.bincount(bins, minlength=OTSU_BINS).astype(np.float64)
    centres = (np.arange(OTSU_BINS) + 0.5) * (top / OTSU_BINS)
    below, mass = np.cumsum(counts), np.cumsum(counts * centres)
    above = below[-1] - below
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mass[-1] * below - mass * below[-1]) ** 2 / (below * above)
    between[~np.isfinite(between)] = -1.0
    return float((np.argmax(between) + 1) * (top / OTSU_BINS))


def piece_extents(labels: np.ndarray, count: int) -> np.ndarray:
    """Each piece's extent (index 0 is piece 1): the diagonal of its bounding box, from pixel centre to centre."""
    boxes = ndimage.find_objects(labels, count)
    spans = np.array([(rows.stop - rows.start - 1, columns.stop - columns.start - 1) for rows, columns in boxes])
    return np.hypot(spans[:, 0], spans[:, 1]) if count else np.zeros(0)


def long_pieces(mask: np.ndarray, min_length: float) -> np.ndarray:
    """``mask`` without its pieces that span less than ``min_length`` pixels (``piece_extents``)."""
    labels, count = label_pieces(mask)
    if count == 0 or min_length <= 0:
        return mask
    keep = np.concatenate([[False], piece_extents(labels, count) >= min_length])
    return keep[labels]


def evidence_region(evidence: np.ndarray, rule: SegmentRule) -> np.ndarray:
    """Step 1: where the model looked, grown by ``rule.grow`` pixels."""
    return dilate(evidence >= rule.evidence, rule.grow)


def line_candidates(lines: np.ndarray, region: np.ndarray, contrast: float) -> np.ndarray:
    """Steps 2 and 3: the pixels of ``region`` whose line strength reaches ``contrast`` x Otsu's threshold there."""
    if not region.any():
        return region
    return (lines >= contrast * otsu_threshold(lines[region])) & region


def road_mask(evidence: np.ndarray, image: np.ndarray, rule: SegmentRule) -> np.ndarray:
    """The road pixels (boolean ``H x W``) of a tile the model calls road.

    ``evidence``: the method's display map, ``H x W`` in [0, 1]; ``image``: the model input, ``3 x H x W`` RGB in
    [0, 1] (the same pixels the evidence was computed on).
    """
    region = evidence_region(evidence, rule)
    if not region.any():
        return region
    candidates = line_candidates(line_strength(image, rule.line_radius), region, rule.contrast)
    return long_pieces(candidates, rule.min_length)
