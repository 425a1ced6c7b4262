"""Train ``roadnet/3`` by one command: ``python -m training.rural [training options]``.

Runs the presets ``rural-1``, ``rural-2``, ``rural-3`` and ``rural`` in order (training/config.py says what each
stage does); each starts from the best epoch of the one before, and the last one exports to the model store.
Extra options (``--threads 4``, ``--no-progress``) go to every stage.
"""

from __future__ import annotations

import sys

from training.train import main as train

STAGES = ("rural-1", "rural-2", "rural-3", "rural")


def main(argv: list[str] | None = None) -> None:
    extra = list(sys.argv[1:] if argv is None else argv)
    for preset in STAGES:
        print(f"stage {preset}", flush=True)
        train(["--preset", preset, *extra])


if __name__ == "__main__":
    main()
