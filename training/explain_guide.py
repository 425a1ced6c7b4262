"""The report's advice, written from the measured numbers: which method to choose for what.

Every claim names the figures it rests on, so the text stays true when the model or the data change.
"""

from __future__ import annotations

from training.evaluate_explanations import Evaluation, Scores

SANITY_FAIL = 0.5  # rank correlation with the trained maps that a fully re-initialised model should stay under
PIXEL_LEVEL = ("saliency", "smoothgrad", "guided_backprop", "guided_gradcam", "integrated_gradients")


def _names(scores: list[Scores]) -> str:
    return ", ".join(s.label for s in scores) or "none"


def _find(evaluation: Evaluation, label: str) -> Scores | None:
    return next((s for s in evaluation.scores if s.label == label), None)


def localisation(evaluation: Evaluation) -> str:
    """Which maps find the road, and by how much more than the same method without training."""
    ranked = sorted(evaluation.scores, key=lambda s: s.mass - s.mass_untrained, reverse=True)
    best, worst = ranked[0], ranked[-1]
    untrained_hits = [s for s in evaluation.scores if s.pointing_untrained >= 0.5]
    random = evaluation.random
    beaten = [s for s in evaluation.scores if s.pointing > random.pointing and s.mass > random.mass]
    who = "Every method" if len(beaten) == len(evaluation.scores) else f"{len(beaten)} of {len(evaluation.scores)}"
    low, high = min(s.mass_untrained for s in evaluation.scores), max(s.mass_untrained for s in evaluation.scores)
    return (
        f"- **Finding the road.** {who} beat a random map (pointing game {random.pointing:.2f}, road mass "
        f"{random.mass:.2f}), but the untrained network already scores road mass {low:.2f}-{high:.2f}:"
        " roads are thin light lines, and edges light up any convolutional network. The margin is what training "
        f"adds: largest for {best.label} (road mass {best.mass:.2f} vs {best.mass_untrained:.2f} untrained), "
        f"smallest for {worst.label} ({worst.mass:.2f} vs {worst.mass_untrained:.2f}). Methods whose untrained "
        f"maps still point at the road on half the tiles or more: {_names(untrained_hits)}."
    )


def faithfulness(evaluation: Evaluation) -> str:
    """Which maps name the pixels the decision actually depends on (deletion), and how much insertion separates."""
    random = evaluation.random
    best = min(evaluation.scores, key=lambda s: s.deletion)
    near_random = [s for s in evaluation.scores if s.deletion > random.deletion - 0.05]
    insertions = [s.insertion for s in evaluation.scores]
    return (
        f"- **Pointing at what the decision depends on.** Deleting pixels in {best.label}'s order lowers the road "
        f"probability fastest (deletion AUC {best.deletion:.3f}, random order {random.deletion:.3f}). Maps "
        f"within 0.05 of random on deletion: {_names(near_random)}: they rank single pixels, and this model "
        "keeps calling a road until most of it is gone, so scattered pixels change little. Insertion AUCs span "
        f"only {min(insertions):.3f}-{max(insertions):.3f} (random {random.insertion:.3f}): a blurred tile "
        "keeps enough of the road for the model, so insertion hardly separates the methods here."
    )


def sanity(evaluation: Evaluation) -> str:
    """Which methods keep their maps when the model is destroyed."""
    failing = [s for s in evaluation.scores if s.sanity[-1] > SANITY_FAIL]
    top_blind = [s for s in evaluation.scores if min(s.sanity[:2]) > 0.99]
    most = min(evaluation.scores, key=lambda s: s.sanity[-1])
    text = (
        f"- **Explaining the model, not the image.** After every layer is re-initialised, the maps of "
        f"{_names(failing)} still correlate above {SANITY_FAIL} with the trained model's: much of what they show "
        f"is the image. {most.label} changes most (correlation {most.sanity[-1]:.2f})."
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
    cheap = [s for s in evaluation.scores if s.ms_per_image <= 3 * forward]
    dear = [s for s in evaluation.scores if s.ms_per_image > 20 * forward]
    vbp = _find(evaluation, "visualbackprop")
    vbp_text = f" VisualBackProp costs {vbp.ms_per_image / forward:.1f} forward passes in all." if vbp else ""
    return (
        f"- **Cost.** One forward pass is {forward:.2f} ms per image here. Within 3 forward passes: "
        f"{_names(cheap)}. Over 20: {_names(dear)}, which expand each image into tens to hundreds of passes "
        f"(batched, but still that many).{vbp_text}"
    )


def choice(evaluation: Evaluation) -> str:
    """The recommendation, from the figures above."""
    passing = [s for s in evaluation.scores if s.sanity[-1] <= SANITY_FAIL]
    cheap_passing = [s for s in passing if s.ms_per_image <= 3 * evaluation.forward_ms]
    pick = max(cheap_passing or passing or evaluation.scores, key=lambda s: s.mass - s.mass_untrained)
    pixel_level = [s for s in evaluation.scores if s.label in PIXEL_LEVEL] or evaluation.scores
    detail = max(pixel_level, key=lambda s: s.pointing - s.pointing_untrained)
    return (
        f"- **Choosing.** For evidence about the road decision at serving cost, take {pick.label}: it stays under "
        f"the sanity bar ({pick.sanity[-1]:.2f}), costs {pick.ms_per_image:.1f} ms per image, and its road mass "
        f"margin is {pick.mass - pick.mass_untrained:.2f}. For pixel-level detail, {detail.label} has the largest "
        f"pointing-game margin ({detail.pointing:.2f} vs {detail.pointing_untrained:.2f} untrained). Use "
        "VisualBackProp (overlap-normalised for display) to see where the conv layers respond, at about the "
        "price of a prediction, knowing that it describes the features rather than the decision; use occlusion "
        "or integrated gradients when a map must be tied to actual output changes and the cost is acceptable."
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
