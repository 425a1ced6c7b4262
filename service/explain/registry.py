"""The one table of explanation methods: name -> parameters (type, default, bounds), cost, description.

``GET /explain`` lists it, ``POST /explain/{method}`` validates against it (``params.resolve_params``: 422 naming
the accepted values or range), and the engine runs the method's function (``explain.functions``, same names).
Bounds that cost compute (samples, steps, window, stride) come from the service settings through ``Limits``.
This module imports no torch: the HTTP front-ends read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.errors import InvalidParameter, NotApplicable
from service.explain.params import BASELINES, Bound, Limits, MethodSpec, ParamSpec, ParamValue, resolve_params

__all__ = [
    "METHODS",
    "NOT_APPLICABLE",
    "Limits",
    "MethodSpec",
    "describe_methods",
    "method_spec",
    "params_key",
    "resolve_params",
]
SEED_MAX = 2**31 - 1


def _fixed(value: float) -> Bound:
    return lambda _limits: value


LAYER = ParamSpec(
    "layer",
    "string",
    None,
    "Conv block whose activations are weighted (GET /models lists them); default: the deepest.",
    choices=lambda limits: limits.blocks,
    nullable=True,
)
BASELINE = ParamSpec(
    "baseline",
    "string",
    "black",
    "Reference image: black (zeros), mean (the training mean colour) or blur (Gaussian, sigma 4 px).",
    choices=lambda _limits: BASELINES,
)

METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec(
            "visualbackprop",
            "VisualBackProp (Bojarski et al., 2016): products of channel-averaged activations, upsampled by "
            "ones-kernel transposed convolutions. Class-agnostic: the target is ignored.",
            "one forward pass, no gradient",
            (
                ParamSpec(
                    "normalize_overlap",
                    "boolean",
                    False,
                    "Divide each upsampling by its overlap count (removes the checkerboard texture).",
                ),
            ),
            uses_target=False,
        ),
        MethodSpec(
            "saliency",
            "Vanilla gradient (Simonyan et al., 2013): |d score / d pixel|, largest over colour channels.",
            "one forward and one backward pass",
        ),
        MethodSpec(
            "smoothgrad",
            "SmoothGrad (Smilkov et al., 2017): the gradient map averaged over noisy copies of the image.",
            "samples x (forward + backward)",
            (
                ParamSpec(
                    "samples",
                    "integer",
                    25,
                    "Noisy copies averaged.",
                    _fixed(1),
                    lambda limits: limits.max_samples,
                ),
                ParamSpec(
                    "sigma",
                    "number",
                    0.15,
                    "Noise standard deviation as a fraction of the image's value range (max - min).",
                    _fixed(0.0),
                    _fixed(1.0),
                ),
                ParamSpec(
                    "seed",
                    "integer",
                    None,
                    "Seed of the noise: the same seed gives the same map. Default: random.",
                    _fixed(0),
                    _fixed(SEED_MAX),
                    nullable=True,
                ),
            ),
        ),
        MethodSpec(
            "guided_backprop",
            "Guided backpropagation (Springenberg et al., 2014): only positive gradients through active ReLUs.",
            "one forward and one backward pass",
        ),
        MethodSpec(
            "gradcam",
            "Grad-CAM (Selvaraju et al., 2016): a block's activations weighted by their mean gradient, ReLU, "
            "upsampled (bilinear).",
            "one forward and one backward pass",
            (LAYER,),
        ),
        MethodSpec(
            "guided_gradcam",
            "Guided Grad-CAM: guided backpropagation times the upsampled Grad-CAM map.",
            "two forward and two backward passes",
            (LAYER,),
        ),
        MethodSpec(
            "occlusion",
            "Occlusion (Zeiler & Fergus, 2014): the score's drop when a sliding square is replaced by the "
            "baseline, averaged per pixel. Signed.",
            "one forward pass per window position: (ceil((96 - window) / stride) + 1)^2 at 96 x 96",
            (
                ParamSpec(
                    "window",
                    "integer",
                    16,
                    "Side of the occluding square, pixels at the model's input size.",
                    lambda limits: limits.min_window,
                    lambda limits: min(limits.input_size),
                ),
                ParamSpec(
                    "stride",
                    "integer",
                    8,
                    "Step between window positions, pixels; at most the window.",
                    lambda limits: limits.min_stride,
                    lambda limits: min(limits.input_size),
                ),
                BASELINE,
            ),
            signed=True,
        ),
        MethodSpec(
            "integrated_gradients",
            "Integrated gradients (Sundararajan et al., 2017): the gradient integrated from a baseline to the "
            "image (Gauss-Legendre), times (image - baseline), colour channels summed. Signed.",
            "steps x (forward + backward)",
            (
                ParamSpec(
                    "steps",
                    "integer",
                    50,
                    "Quadrature nodes on the path (Captum's default is 50).",
                    _fixed(1),
                    lambda limits: limits.max_steps,
                ),
                BASELINE,
            ),
            signed=True,
        ),
    )
}

NOT_APPLICABLE: dict[str, str] = {
    "cam": "CAM (Zhou et al., 2016) needs global average pooling directly before the output layer, so that the "
    "output is a weighted sum of spatially averaged channels; this network uses global max-pooling followed by a "
    "hidden linear layer (512 units, batchnorm, ReLU) before the output, so there are no per-channel class "
    "weights to map back. Use gradcam, which generalises CAM to any architecture.",
}


def method_spec(name: str) -> MethodSpec:
    """The method called ``name``; ``NotApplicable`` for CAM, ``InvalidParameter`` naming the known ones."""
    if name in NOT_APPLICABLE:
        raise NotApplicable(NOT_APPLICABLE[name], detail={"method": name, "alternatives": ["gradcam"]})
    spec = METHODS.get(name)
    if spec is None:
        accepted = [*METHODS, *NOT_APPLICABLE]
        raise InvalidParameter(
            f"unknown method {name!r}; accepted: {', '.join(METHODS)}",
            detail={"parameter": "method", "accepted": accepted},
        )
    return spec


def describe_methods(limits: Limits) -> list[dict[str, Any]]:
    """Every method (the not-applicable ones with their reason), for ``GET /explain``."""
    listed = [spec.describe(limits) for spec in METHODS.values()]
    for name, reason in NOT_APPLICABLE.items():
        listed.append({"name": name, "applicable": False, "reason": reason, "params": []})
    return listed


def params_key(params: Mapping[str, ParamValue]) -> tuple[tuple[str, ParamValue], ...]:
    """A hashable form of resolved parameters: requests with equal keys share one method call."""
    return tuple(sorted(params.items()))
