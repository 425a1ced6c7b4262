"""Each method's function, by the names of the method table (``explain.registry``); the engine's side of it.

Kept apart from the table so that the HTTP front-ends, which validate requests against the table, never import
torch.
"""

from __future__ import annotations

from service.explain.base import Method
from service.explain.gradcam import gradcam
from service.explain.guided_backprop import guided_backprop
from service.explain.guided_gradcam import guided_gradcam
from service.explain.integrated_gradients import integrated_gradients
from service.explain.occlusion import occlusion
from service.explain.registry import METHODS
from service.explain.saliency import saliency
from service.explain.smoothgrad import smoothgrad
from service.explain.visualbackprop import visualbackprop_method

FUNCTIONS: dict[str, Method] = {
    "visualbackprop": visualbackprop_method,
    "saliency": saliency,
    "smoothgrad": smoothgrad,
    "guided_backprop": guided_backprop,
    "gradcam": gradcam,
    "guided_gradcam": guided_gradcam,
    "occlusion": occlusion,
    "integrated_gradients": integrated_gradients,
}
if FUNCTIONS.keys() != METHODS.keys():  # the two tables must name the same methods
    raise RuntimeError(f"explain.functions {sorted(FUNCTIONS)} differs from the method table {sorted(METHODS)}")
