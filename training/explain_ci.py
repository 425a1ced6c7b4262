"""The CI-sized explanation evaluation and the bars it must clear (``tests/explain/test_evaluation.py``).

Fresh synthetic road tiles (no dataset needed), 12 of them, every method with cheaper settings for the
expanding ones. The bars were set from measured values of the shipped model with a margin (the report
``docs/explanations.md`` prints them beside the values of its own CI-sized run): a method that returns
constant, random or sign-flipped maps, or that stops depending on the weights, falls below them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.evaluate_explanations import Evaluation, Options, Scores, Variant

CI_VARIANTS = (
    Variant("visualbackprop", "visualbackprop"),
    Variant("saliency", "saliency"),
    Variant("smoothgrad", "smoothgrad", {"samples": 8, "seed": 0}),
    Variant("guided_backprop", "guided_backprop"),
    Variant("gradcam", "gradcam"),
    Variant("guided_gradcam", "guided_gradcam"),
    Variant("occlusion", "occlusion", {"window": 16, "stride": 16}),
    Variant("integrated_gradients", "integrated_gradients", {"steps": 16}),
)


@dataclass(frozen=True)
class Bar:
    """What a method must reach on the CI run: at least ``pointing`` and ``mass`` on the trained model, a road
    mass above the untrained network's by ``margin``, and at most ``sanity`` rank correlation with its own maps
    once every layer is re-initialised."""

    pointing: float
    mass: float
    margin: float
    sanity: float


BARS: dict[str, Bar] = {
    "visualbackprop": Bar(pointing=0.5, mass=2.0, margin=0.3, sanity=0.9),
    "saliency": Bar(pointing=0.5, mass=2.0, margin=0.3, sanity=0.7),
    "smoothgrad": Bar(pointing=0.5, mass=1.5, margin=0.0, sanity=0.7),
    "guided_backprop": Bar(pointing=0.5, mass=2.0, margin=0.3, sanity=0.7),
    "gradcam": Bar(pointing=0.3, mass=1.3, margin=0.3, sanity=0.5),
    "guided_gradcam": Bar(pointing=0.5, mass=2.0, margin=0.3, sanity=0.7),
    "occlusion": Bar(pointing=0.1, mass=1.5, margin=0.3, sanity=0.5),
    "integrated_gradients": Bar(pointing=0.4, mass=2.0, margin=0.3, sanity=0.8),
}


def ci_options(model_dir: Path) -> Options:
    """The CI run's options for the artifact in ``model_dir``."""
    return Options(model_dir, tiles=12, sanity_tiles=6, curve_steps=8, fresh=True, variants=CI_VARIANTS)


def failures(scores: Scores) -> list[str]:
    """What ``scores`` misses of its method's bar (empty: it passes)."""
    bar = BARS[scores.label]
    checks = [
        (scores.pointing >= bar.pointing, f"pointing game {scores.pointing:.2f} < {bar.pointing}"),
        (scores.mass >= bar.mass, f"road mass {scores.mass:.2f} < {bar.mass}"),
        (
            scores.mass - scores.mass_untrained >= bar.margin,
            f"road mass margin over the untrained network {scores.mass - scores.mass_untrained:.2f} < {bar.margin}",
        ),
        (
            scores.sanity[-1] <= bar.sanity,
            f"correlation after full re-initialisation {scores.sanity[-1]:.2f} > {bar.sanity}",
        ),
    ]
    return [f"{scores.label}: {message}" for ok, message in checks if not ok]


def all_failures(evaluation: Evaluation) -> list[str]:
    """Every bar missed by every method of a CI-sized evaluation."""
    return [message for scores in evaluation.scores for message in failures(scores)]
