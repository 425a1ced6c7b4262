"""The report's advice, written from the measured numbers: which method to choose for what.

Every claim names the figures it rests on, so the text stays true when the model or the data change.
"""

from __future__ import annotations

from training.explanations.results import Evaluation, Scores

SANITY_FAIL = 0.5  # rank correlation with the trained maps that a fully re-initialised model should stay under
PIXEL_LEVEL = ("saliency", "smoothgrad", "guided_backprop", "guided_gradcam", "integrated_gradients")
COARSE = ("gradcam", "occlusion")  # maps at the resolution of a block or a window, not of a pixel


def _names(scores: list[Scores]) -> str:
    return ", ".join(f"`{s.label}`" for s in scores) or "none"


def _find(evaluation: Evaluation, label: str) -> Scores | None:
    return next((s for s in evaluation.scores if s.label == label), None)


def localisation(evaluation: Evaluation) -> str:
    """Which maps find the road, and by how much more than the same method without training."""
    ranked = sorted(evaluation.scores, key=lambda s: s.mass - s.mass_untrained, reverse=True)
    best, worst = ranked[0], ranked[-1]
    untrained_hits = [s for s in evaluation.scores if s.pointing_untrained >= 0.5]
    random = evaluation.random
    beaten = [s for s in evaluation.scores if s.pointing > random.pointing and s.mass > random.mass]
    who = "Every method beats" if len(beaten) == len(evaluation.scores) else f"{len(beaten)} of the methods beat"
    low, high = min(s.mass_untrained for s in evaluation.scores), max(s.mass_untrained for s in evaluation.scores)
    return (
        f"- **Finding the road.** {who} a random map (pointing game {random.pointing:.2f}, road mass "
        f"{random.mass:.2f}), but the untrained network already scores road mass {low:.2f}-{high:.2f}:"
        " roads are thin light lines, and edges light up any convolutional network. The margin is what training "
        f"adds: largest for `{best.label}` (road mass {best.mass:.2f} vs {best.mass_untrained:.2f} untrained), "
        f"smallest for `{worst.label}` ({worst.mass:.2f} vs {worst.mass_untrained:.2f}). Methods whose untrained "
        f"maps still point at the road on half the tiles or more: {_names(untrained_hits)}."
    )


def faithfulness(evaluation: Evaluation) -> str:
    """Which maps name the pixels the decision actually depends on (deletion), and how much insertion separates."""
    random = evaluation.random
    best = min(evaluation.scores, key=lambda s: s.deletion)
    fine = [s for s in evaluation.scores if s.label in PIXEL_LEVEL]
    coarse = [s for s in evaluation.scores if s.label in COARSE]
    insertions = [s.insertion for s in evaluation.scores]
    text = (
        f"- **Pointing at what the decision depends on.** Deleting pixels in `{best.label}`'s order lowers the road "
        f"probability fastest (deletion AUC {best.deletion:.3f}, random order {random.deletion:.3f})."
    )
    if fine and coarse:
        text += (
            f" The pixel-level maps ({_names(fine)}) score {min(s.deletion for s in fine):.3f}-"
            f"{max(s.deletion for s in fine):.3f}, the coarse ones ({_names(coarse)}) "
            f"{min(s.deletion for s in coarse):.3f}-{max(s.deletion for s in coarse):.3f}: the model keeps "
            "calling a road while any stretch of it is left, so removing the brightest single pixels all over the "
            "road changes less than removing one whole stretch."
        )
    return text + (
        f" Insertion AUCs span only {min(insertions):.3f}-{max(insertions):.3f} (random {random.insertion:.3f}): "
        "a blurred tile keeps enough of the road for the model, so insertion hardly separates the methods here."
    )


def sanity(evaluation: Evaluation) -> str:
    """Which methods keep their maps when the model is destroyed."""
    failing = [s for s in evaluation.scores if s.sanity[-1] > SANITY_FAIL]
    top_blind = [s for s in evaluation.scores if min(s.sanity[:2]) > 0.99]
    most = min(evaluation.scores, key=lambda s: s.sanity[-1])
    text = (
        f"- **Explaining the model, not the image.** After every layer is re-initialised, the maps of "
        f"{_names(failing)} still correlate above {SANITY_FAIL} with the trained model's: much of what they show "
        f"is the image. `{most.label}` changes most (correlation {most.sanity[-1]:.2f})."
    )
    if top_blind:
        verb = "does" if len(top_blind) == 1 else "do"
        text += (
            f" {_names(top_blind)} {verb} not change at all when the output and hidden layers are re-initialised: "
            "VisualBackProp reads the conv activations only, so it cannot show what the classifier head does "
            "with them, and gives the same map for `road` and `not_road`."
        )
    return text


def cost(evaluation: Evaluation) -> str:
    """What each method costs next to one forward pass."""
    forward = evaluation.forward_ms
    cheap = [s for s in evaluation.scores if s.forward_passes <= 3]
    dear = [s for s in evaluation.scores if s.forward_passes > 20]
    vbp = _find(evaluation, "visualbackprop")
    vbp_text = (
        f" VisualBackProp costs {vbp.forward_passes:.1f} forward passes in all, its own forward pass included."
        if vbp
        else ""
    )
    return (
        f"- **Cost.** One forward pass is {forward:.2f} ms per image here. Within 3 forward passes: "
        f"{_names(cheap)}. Over 20: {_names(dear)}, which expand each image into tens to hundreds of passes "
        f"(batched, but still that many).{vbp_text}"
    )


def choice(evaluation: Evaluation) -> str:
    """The recommendation, from the figures above."""
    passing = [s for s in evaluation.scores if s.sanity[-1] <= SANITY_FAIL] or evaluation.scores
    cheap = [s for s in passing if s.forward_passes <= 3] or passing
    decision = min(cheap, key=lambda s: s.deletion)
    fine = [s for s in passing if s.label in PIXEL_LEVEL] or passing
    detail = max(fine, key=lambda s: s.mass - s.mass_untrained)
    return (
        f"- **Choosing.** For the evidence behind the road decision at the cost of a prediction, take "
        f"`{decision.label}`: the lowest deletion AUC among the cheap methods that pass the sanity check "
        f"({decision.deletion:.3f}; correlation {decision.sanity[-1]:.2f} once the model is destroyed; "
        f"{decision.ms_per_image:.1f} ms per image), at the price of a coarse map. For pixel-level detail, "
        f"`{detail.label}` has the largest road-mass margin over the untrained network among the pixel-level "
        f"methods that pass ({detail.mass:.2f} vs {detail.mass_untrained:.2f}). Use VisualBackProp (overlap-"
        "normalised for display) to see where the conv layers respond, at the price of a prediction, knowing that "
        "it describes the features rather than the decision; use occlusion or integrated gradients when a map "
        "must be tied to actual changes of the output and their cost is acceptable."
    )


def guidance(evaluation: Evaluation) -> list[str]:
    """Bullet points drawn from the evaluation."""
    return [
        localisation(evaluation),
        faithfulness(evaluation),
        sanity(evaluation),
        cost(evaluation),
        choice(evaluation),
    ]
