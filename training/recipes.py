"""Multi-stage training recipes by one command: ``python -m training.recipes NAME [training options]``.

A recipe is a list of presets (training/config.py) run in order, each starting from the best epoch of the one
before, and maybe a last weight-averaging step (``training.soup``); only the last step exports to the model
store. Extra options (``--threads 4``, ``--no-progress``) go to every training stage.

- ``rural`` made ``roadnet/3`` from ``roadnet/2`` (also ``python -m training.rural``);
- ``avenues`` made ``roadnet/4`` from ``roadnet/2``: the first three stages of ``rural`` on generator 3's tiles
  (tree-lined roads and their look-alikes);
- ``lookalikes`` made ``roadnet/5``: ``roadnet/4`` fine-tuned by the last two ``avenues`` stages on generator 5's
  tiles (roads and look-alikes across a corner), then averaged half and half with ``roadnet/4`` itself.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from training.soup import main as soup
from training.train import main as train


@dataclass(frozen=True)
class Soup:
    """A recipe's last step: ``training.soup`` on the given checkpoints and weights, with ``preset``'s data."""

    preset: str
    checkpoints: tuple[tuple[str, float], ...]
    out: str
    store: str = "model_store"

    def argv(self) -> list[str]:
        args = ["--preset", self.preset, "--out", self.out, "--store", self.store]
        for path, weight in self.checkpoints:
            args += ["--checkpoint", path, "--weight", str(weight)]
        return args


Step = str | Soup

RECIPES: dict[str, tuple[Step, ...]] = {
    "rural": ("rural-1", "rural-2", "rural-3", "rural"),
    "avenues": ("avenues-1", "avenues-2", "avenues"),
    "lookalikes": (
        "lookalikes-1",
        "lookalikes-2",
        Soup(
            "lookalikes-2",
            (("model_store/roadnet/4/model.pt", 0.5), ("runs/lookalikes-2/best.pt", 0.5)),
            out="runs/lookalikes",
        ),
    ),
}


def run(steps: tuple[Step, ...], extra: list[str]) -> None:
    for step in steps:
        if isinstance(step, Soup):
            print(f"stage soup of {', '.join(path for path, _ in step.checkpoints)}", flush=True)
            soup(step.argv())
        else:
            print(f"stage {step}", flush=True)
            train(["--preset", step, *extra])


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in RECIPES:
        raise SystemExit(f"usage: python -m training.recipes {{{','.join(RECIPES)}}} [training options]")
    run(RECIPES[args[0]], args[1:])


if __name__ == "__main__":
    main()
