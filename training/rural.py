"""Train ``roadnet/3`` by one command: ``python -m training.rural [training options]``.

The same as ``python -m training.recipes rural``: the presets ``rural-1``, ``rural-2``, ``rural-3`` and ``rural``
in order (training/config.py says what each stage does); each starts from the best epoch of the one before, and
the last one exports to the model store. Extra options (``--threads 4``, ``--no-progress``) go to every stage.
"""

from __future__ import annotations

import sys

from training import recipes

STAGES = recipes.RECIPES["rural"]


def main(argv: list[str] | None = None) -> None:
    recipes.run(STAGES, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
