"""The method table: names, parameters with defaults and settings-bound limits, targets, and what is refused."""

from __future__ import annotations

import pytest

from service.errors import InvalidParameter, NotApplicable
from service.explain.registry import METHODS, Limits, describe_methods, method_spec, params_key, resolve_params
from service.explain.targets import accepted_targets, target_weights
from tests.explain import SERVED_METHODS

LIMITS = Limits(max_samples=40, max_steps=30, min_window=6, min_stride=3)
ALL = set(SERVED_METHODS)


def test_the_table_holds_every_method_of_the_issue() -> None:
    assert set(METHODS) == ALL
    listed = {entry["name"]: entry for entry in describe_methods(LIMITS)}
    assert set(listed) == ALL | {"cam"}
    assert listed["cam"]["applicable"] is False and "max" in listed["cam"]["reason"]
    samples = next(p for p in listed["smoothgrad"]["params"] if p["name"] == "samples")
    assert (samples["default"], samples["minimum"], samples["maximum"]) == (25, 1, 40)  # the maximum is a setting
    window = next(p for p in listed["occlusion"]["params"] if p["name"] == "window")
    assert (window["minimum"], window["maximum"]) == (6, 96)
    layer = next(p for p in listed["gradcam"]["params"] if p["name"] == "layer")
    assert layer["choices"] == ["block0", "block1", "block2", "block3"] and layer["default"] is None
    assert listed["visualbackprop"]["uses_target"] is False
    assert (
        listed["occlusion"]["signed"] and listed["integrated_gradients"]["signed"] and not listed["saliency"]["signed"]
    )


def test_defaults_fill_in_and_given_values_are_typed() -> None:
    assert resolve_params(METHODS["smoothgrad"], {}, LIMITS) == {"samples": 25, "sigma": 0.15, "seed": None}
    resolved = resolve_params(METHODS["smoothgrad"], {"sigma": 0, "seed": 4}, LIMITS)
    assert resolved == {"samples": 25, "sigma": 0.0, "seed": 4} and isinstance(resolved["sigma"], float)
    assert resolve_params(METHODS["saliency"], {}, LIMITS) == {}
    key = params_key(resolve_params(METHODS["occlusion"], {"stride": 4}, LIMITS))
    assert key == (("baseline", "black"), ("stride", 4), ("window", 16))
    assert hash(key) == hash(params_key({"window": 16, "baseline": "black", "stride": 4}))


@pytest.mark.parametrize(
    ("method", "given", "named", "in_message"),
    [
        ("smoothgrad", {"samples": 41}, "samples", "[1, 40]"),
        ("smoothgrad", {"samples": 0}, "samples", "[1, 40]"),
        ("smoothgrad", {"sigma": 1.5}, "sigma", "[0, 1]"),
        ("integrated_gradients", {"steps": 31}, "steps", "[1, 30]"),
        ("occlusion", {"window": 5}, "window", "[6, 96]"),
        ("occlusion", {"stride": 2}, "stride", "[3, 96]"),
        ("occlusion", {"window": 8, "stride": 9}, "stride", "exceeds window 8"),
        ("occlusion", {"baseline": "grey"}, "baseline", "black, mean, blur"),
        ("gradcam", {"layer": "block9"}, "layer", "block0, block1, block2, block3"),
        ("saliency", {"samples": 3}, "samples", "parameters: none"),
        ("gradcam", {"steps": 3}, "steps", "parameters: layer"),
        ("smoothgrad", {"samples": 2.5}, "samples", "integer"),
        ("visualbackprop", {"normalize_overlap": 1}, "normalize_overlap", "boolean"),
    ],
)
def test_refusals_name_the_parameter_and_what_is_accepted(
    method: str, given: dict[str, object], named: str, in_message: str
) -> None:
    with pytest.raises(InvalidParameter) as refused:
        resolve_params(METHODS[method], given, LIMITS)  # type: ignore[arg-type]
    assert refused.value.detail["parameter"] == named
    assert in_message in refused.value.message


def test_cam_does_not_apply_and_unknown_methods_are_named() -> None:
    with pytest.raises(NotApplicable) as cam:
        method_spec("cam")
    assert "global average pooling" in cam.value.message and "max-pool" in cam.value.message
    assert cam.value.detail["alternatives"] == ["gradcam"]
    with pytest.raises(InvalidParameter) as unknown:
        method_spec("lime")
    assert set(unknown.value.detail["accepted"]) == ALL | {"cam"} and "saliency" in unknown.value.message
    assert method_spec("gradcam") is METHODS["gradcam"]


def test_targets() -> None:
    assert target_weights(None, ["road"]) == (1.0,)
    assert target_weights("not_road", ["road"]) == (-1.0,)
    labels = ["agriculture", "road", "water"]
    assert target_weights(None, labels) == (0.0, 1.0, 0.0)  # road whenever the model has it
    assert target_weights("water", labels) == (0.0, 0.0, 1.0)
    assert target_weights("not_agriculture", labels) == (-1.0, 0.0, 0.0)
    assert target_weights(None, ["water", "haze"]) == (1.0, 0.0)  # else the first label
    assert accepted_targets(["road"]) == ["road", "not_road"]
    with pytest.raises(InvalidParameter) as refused:
        target_weights("river", labels)
    assert refused.value.detail["accepted"] == accepted_targets(labels)
