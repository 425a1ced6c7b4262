"""Multi-stage training recipes by one command: ``python -m training.recipes NAME [training options]``.

A recipe is a list of presets (training/config.py) run in order, each starting from the best epoch of the one
before; only the last one exports to the model store. Extra options (``--threads 4``, ``--no-progress``) go to
every stage.

- ``rural`` made ``roadnet/3`` from ``roadnet/2`` (also ``python -m training.rural``);
- ``avenues`` made ``roadnet/4`` from ``roadnet/2``: the first three stages of ``rural`` on generator 3's tiles
  (tree-lined roads and their look-alikes).
"""

from __future__ import annotations

import sys

from training.train import main as train

RECIPES: dict[str, tuple[str, ...]] = {
    "rural": ("rural-1", "rural-2", "rural-3", "rural"),
    "avenues": ("avenues-1", "avenues-2", "avenues"),
}


def run(stages: tuple[str, ...], extra: list[str]) -> None:
    for preset in stages:
        print(f"stage {preset}", flush=True)
        train(["--preset", preset, *extra])


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in RECIPES:
        raise SystemExit(f"usage: python -m training.recipes {{{','.join(RECIPES)}}} [training options]")
    run(RECIPES[args[0]], args[1:])


if __name__ == "__main__":
    main()
