"""Which score a method explains: a label's logit, or its negation for the opposite decision.

The network has one logit per label (one, ``road``, for the shipped model) and a sigmoid on each, so "the
class" of a gradient method is the logit itself. ``not_<label>`` negates it: the evidence *against* the label
(for a single sigmoid, ``logit(1 - p) = -logit(p)``). A target becomes a row of weights over the logits.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.errors import InvalidParameter

NEGATION = "not_"


def default_target(labels: Sequence[str]) -> str:
    """``road`` when the model has it, else its first label."""
    return "road" if "road" in labels else labels[0]


def accepted_targets(labels: Sequence[str]) -> list[str]:
    """Every target a model accepts: each label, then each ``not_<label>``."""
    return [*labels, *(NEGATION + label for label in labels)]


def target_weights(target: str | None, labels: Sequence[str]) -> tuple[float, ...]:
    """The weights over the logits that ``target`` (None: the default) stands for; 422 for an unknown one."""
    name = default_target(labels) if target is None else target
    sign, label = (-1.0, name[len(NEGATION) :]) if name.startswith(NEGATION) else (1.0, name)
    if label not in labels:
        accepted = accepted_targets(labels)
        raise InvalidParameter(
            f"unknown target {name!r}; accepted: {', '.join(accepted)}",
            detail={"parameter": "target", "accepted": accepted},
        )
    return tuple(sign if candidate == label else 0.0 for candidate in labels)
