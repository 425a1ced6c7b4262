"""The vocabulary of the method table: parameters with settings-bound limits, method entries, and the check
that turns a request's parameters into a method's full, typed parameters (or a 422 naming what is accepted)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from service.errors import InvalidParameter

ParamValue = bool | int | float | str | None
ParamType = Literal["boolean", "integer", "number", "string"]
# The reference images of occlusion and integrated gradients (``explain.baselines`` draws them).
BASELINES = ("black", "mean", "blur")
PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
}


@dataclass(frozen=True)
class Limits:
    """Settings-bound limits on the parameters that cost compute, and the model facts bounds depend on."""

    max_samples: int = 128
    max_steps: int = 128
    min_window: int = 4
    min_stride: int = 2
    input_size: tuple[int, int] = (96, 96)
    blocks: tuple[str, ...] = ("block0", "block1", "block2", "block3")


Bound = Callable[[Limits], float]


@dataclass(frozen=True)
class ParamSpec:
    """One method parameter: how it is typed, defaulted, bounded and described."""

    name: str
    type: ParamType
    default: ParamValue
    description: str
    minimum: Bound | None = None
    maximum: Bound | None = None
    choices: Callable[[Limits], tuple[str, ...]] | None = None
    nullable: bool = False  # None (the default) is a meaningful value: "random" seed, "deepest" layer

    def describe(self, limits: Limits) -> dict[str, Any]:
        """The parameter as ``GET /explain`` lists it."""
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "minimum": None if self.minimum is None else self.minimum(limits),
            "maximum": None if self.maximum is None else self.maximum(limits),
            "choices": None if self.choices is None else list(self.choices(limits)),
            "description": self.description,
        }


@dataclass(frozen=True)
class MethodSpec:
    """One explanation method: what a client needs to know to call it (its function is in ``explain.functions``)."""

    name: str
    summary: str
    cost: str
    params: tuple[ParamSpec, ...] = ()
    uses_target: bool = True
    signed: bool = False  # maps are signed (positive: evidence for the target); the display map keeps > 0

    def describe(self, limits: Limits) -> dict[str, Any]:
        """The method as ``GET /explain`` lists it."""
        return {
            "name": self.name,
            "applicable": True,
            "summary": self.summary,
            "cost": self.cost,
            "uses_target": self.uses_target,
            "signed": self.signed,
            "params": [p.describe(limits) for p in self.params],
        }


def resolve_params(spec: MethodSpec, given: Mapping[str, ParamValue], limits: Limits) -> dict[str, ParamValue]:
    """Every parameter of ``spec``: the given ones checked and typed, the others at their default.

    ``InvalidParameter`` (422) for a parameter the method does not take, a value of the wrong type, outside
    its range or not among its choices, or a stride larger than the window.
    """
    known = {p.name: p for p in spec.params}
    foreign = sorted(set(given) - set(known))
    if foreign:
        raise InvalidParameter(
            f"{spec.name} does not take {', '.join(foreign)}; its parameters: {', '.join(known) or 'none'}",
            detail={"parameter": foreign[0], "method": spec.name, "accepted": list(known)},
        )
    values = {name: _check(p, given[name], limits) if name in given else p.default for name, p in known.items()}
    if "window" in values and "stride" in values and int(values["stride"] or 0) > int(values["window"] or 0):
        raise InvalidParameter(
            f"stride {values['stride']} exceeds window {values['window']}: pixels would be left out",
            detail={"parameter": "stride", "maximum": values["window"]},
        )
    return values


def _check(spec: ParamSpec, value: ParamValue, limits: Limits) -> ParamValue:
    if value is None and spec.nullable:
        return None
    if not isinstance(value, PYTHON_TYPES[spec.type]) or (spec.type != "boolean" and isinstance(value, bool)):
        raise _invalid(spec, limits, f"{spec.name} must be of type {spec.type}, got {value!r}")
    if spec.type == "number":
        value = float(value)  # type: ignore[arg-type]  # checked to be int or float above
    if spec.choices is not None and value not in spec.choices(limits):
        raise _invalid(spec, limits, f"{spec.name}={value!r} is not one of {', '.join(spec.choices(limits))}")
    low = None if spec.minimum is None else spec.minimum(limits)
    high = None if spec.maximum is None else spec.maximum(limits)
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if numeric and ((low is not None and value < low) or (high is not None and value > high)):  # type: ignore[operator]
        raise _invalid(spec, limits, f"{spec.name}={value} is outside [{_show(low)}, {_show(high)}]")
    return value


def _show(bound: float | None) -> str:
    return "unbounded" if bound is None else f"{bound:g}"


def _invalid(spec: ParamSpec, limits: Limits, message: str) -> InvalidParameter:
    return InvalidParameter(message, detail={"parameter": spec.name, **spec.describe(limits)})
