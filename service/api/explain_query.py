"""What ``POST /explain/{method}`` reads before the body: the method, its parameters and the target, all checked
against the method table (``service/explain/registry.py``) so that a wrong request never costs an upload."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request

from service.api.deps import ExplainModelDep, services_of
from service.api.inference import block_names, input_size
from service.config import Settings
from service.engine.types import ModelInfo
from service.errors import InvalidParameter
from service.explain.params import BASELINES, ParamValue
from service.explain.registry import METHODS, NOT_APPLICABLE, Limits, MethodSpec, method_spec, resolve_params
from service.explain.targets import default_target, target_weights

Baseline = Literal["black", "mean", "blur"]
assert set(BASELINES) == {"black", "mean", "blur"}  # the query type above must follow the table


def limits_of(settings: Settings, info: ModelInfo) -> Limits:
    """The registry's bounds for this service and model."""
    return Limits(
        max_samples=settings.explain_max_samples,
        max_steps=settings.explain_max_steps,
        min_window=settings.explain_min_window,
        min_stride=settings.explain_min_stride,
        input_size=input_size(info),
        blocks=tuple(block_names(info)),
    )


async def method_of(
    method: Annotated[
        str,
        Path(
            description="The method: " + ", ".join([*METHODS, *NOT_APPLICABLE]) + " (cam answers 422 with why it "
            "does not apply to this network). GET /explain lists them with their parameters.",
            examples=["gradcam"],
            json_schema_extra={"enum": [*METHODS, *NOT_APPLICABLE]},
        ),
    ],
) -> MethodSpec:
    """The method's table entry (422 ``invalid_parameter`` naming the known methods; 422 ``not_applicable`` for cam)."""
    return method_spec(method)


async def method_query(
    normalize_overlap: Annotated[
        bool | None, Query(description="visualbackprop: divide each upsampling by its overlap count.", examples=[True])
    ] = None,
    samples: Annotated[
        int | None,
        Query(
            description="smoothgrad: noisy copies (default 25, at most ROADLENS_EXPLAIN_MAX_SAMPLES).", examples=[50]
        ),
    ] = None,
    sigma: Annotated[
        float | None,
        Query(
            description="smoothgrad: noise as a fraction of the image's value range, 0-1 (default 0.15).",
            examples=[0.1],
            allow_inf_nan=False,
        ),
    ] = None,
    seed: Annotated[
        int | None, Query(description="smoothgrad: noise seed for a reproducible map (default: random).", examples=[7])
    ] = None,
    layer: Annotated[
        str | None,
        Query(description="gradcam, guided_gradcam: conv block name (default: the deepest).", examples=["block2"]),
    ] = None,
    window: Annotated[
        int | None,
        Query(
            description="occlusion: square side in pixels (default 16, at least ROADLENS_EXPLAIN_MIN_WINDOW).",
            examples=[12],
        ),
    ] = None,
    stride: Annotated[
        int | None,
        Query(
            description="occlusion: step in pixels, at most the window "
            "(default 8, at least ROADLENS_EXPLAIN_MIN_STRIDE).",
            examples=[4],
        ),
    ] = None,
    baseline: Annotated[
        Baseline | None,
        Query(description="occlusion, integrated_gradients: black (default), mean colour, or blur of the image."),
    ] = None,
    steps: Annotated[
        int | None,
        Query(
            description="integrated_gradients: path steps (default 50, at most ROADLENS_EXPLAIN_MAX_STEPS).",
            examples=[32],
        ),
    ] = None,
) -> dict[str, ParamValue]:
    """The method parameters the request gives (absent ones are left to their defaults)."""
    given = dict(
        normalize_overlap=normalize_overlap, samples=samples, sigma=sigma, seed=seed, layer=layer,
        window=window, stride=stride, baseline=baseline, steps=steps,
    )  # fmt: skip
    return {name: value for name, value in given.items() if value is not None}


# The query parameters every method takes; each method takes its own besides (the method table names them).
COMMON_QUERY = ("model", "version", "target", "format", "size", "overlay", "raw")


def accepted_query(spec: MethodSpec) -> list[str]:
    """Every query parameter ``POST /explain/{spec.name}`` accepts."""
    return [*COMMON_QUERY, *(param.name for param in spec.params)]


def check_query_names(spec: MethodSpec, names: Iterable[str]) -> None:
    """422 for a query parameter the method does not take, whether no method or another method takes it."""
    accepted = accepted_query(spec)
    unknown = sorted(set(names) - set(accepted))
    if unknown:
        raise InvalidParameter(
            f"{spec.name} does not take {', '.join(unknown)}; it accepts: {', '.join(accepted)}",
            detail={"parameter": unknown[0], "unknown": unknown, "method": spec.name, "accepted": accepted},
        )


@dataclass(frozen=True)
class Plan:
    """A checked request: the method, its full parameters and the explained score."""

    spec: MethodSpec
    params: dict[str, ParamValue]
    target: str
    weights: tuple[float, ...]


async def plan_of(
    request: Request,
    spec: Annotated[MethodSpec, Depends(method_of)],
    model: ExplainModelDep,
    given: Annotated[dict[str, ParamValue], Depends(method_query)],
    target: Annotated[
        str | None,
        Query(
            description="The explained score: a label (default: road) or not_<label> for the opposite decision "
            "(the negated logit). GET /explain lists the accepted values. visualbackprop ignores it.",
            examples=["not_road"],
        ),
    ] = None,
) -> Plan:
    """Check the method's parameters and the target before the body is read."""
    check_query_names(spec, request.query_params.keys())
    params = resolve_params(spec, given, limits_of(services_of(request).settings, model))
    labels = [str(label) for label in model.manifest["labels"]]
    name = target or default_target(labels)
    return Plan(spec, params, name, target_weights(name, labels))


PlanDep = Annotated[Plan, Depends(plan_of)]
