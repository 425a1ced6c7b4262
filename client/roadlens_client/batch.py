"""``roadlens predict``: many files, globs and folders, sent concurrently, shown as a table or JSON.

Each file is one request, so one unreadable file fails alone; the server batches the concurrent requests
on its device anyway. Results keep the order in which the files were named.
"""

from __future__ import annotations

import asyncio
import glob
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from roadlens_client.aio import AsyncClient
from roadlens_client.errors import APIError
from roadlens_client.models import ModelRef, Prediction

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})


class NoInputs(ValueError):
    """A named path does not exist, or the arguments name no image at all."""


def expand(arguments: Iterable[str]) -> list[Path]:
    """Files as named; folders searched recursively for images; glob patterns (``**`` too) as matched.

    Duplicates are dropped, the first mention keeping its place.
    """
    found: dict[Path, None] = {}
    for argument in arguments:
        for path in _matches(argument):
            found.setdefault(path, None)
    if not found:
        raise NoInputs("no images found in " + " ".join(arguments))
    return list(found)


def _matches(argument: str) -> list[Path]:
    path = Path(argument)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if path.is_file():
        return [path]
    if glob.has_magic(argument):
        return sorted(Path(p) for p in glob.glob(argument, recursive=True) if Path(p).is_file())
    raise NoInputs(f"{argument}: no such file, folder or pattern")


@dataclass(frozen=True)
class Outcome:
    """One file's prediction, or the error the server answered for it."""

    path: Path
    model: ModelRef | None = None
    prediction: Prediction | None = None
    error: APIError | None = None


async def predict_files(
    client: AsyncClient,
    paths: Sequence[Path],
    concurrency: int,
    progress: bool,
    model: str | None = None,
    version: int | None = None,
) -> list[Outcome]:
    """Predict every file with at most ``concurrency`` requests in flight; a transport failure stops all."""
    gate = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(paths), unit="file", disable=not progress, file=sys.stderr)

    async def one(path: Path) -> Outcome:
        async with gate:
            try:
                result = await client.predict(path, model=model, version=version)
                return Outcome(path, result.model, result.predictions[0])
            except APIError as error:
                return Outcome(path, error=error)
            finally:
                bar.update()

    try:
        return list(await asyncio.gather(*(one(path) for path in paths)))
    finally:
        bar.close()


def write_table(outcomes: Sequence[Outcome], out: TextIO) -> None:
    """One line per file: its name, each label's probability, and the decision (or the error)."""
    labels = next((list(o.prediction.probabilities) for o in outcomes if o.prediction), ["road"])
    width = max(len("file"), *(len(str(o.path)) for o in outcomes))
    out.write("  ".join(["file".ljust(width), *(label.rjust(8) for label in labels), "  label"]) + "\n")
    for outcome in outcomes:
        name = str(outcome.path).ljust(width)
        if outcome.prediction is None:
            assert outcome.error is not None
            out.write(f"{name}  error: {outcome.error.code}: {outcome.error.message}\n")
            continue
        scores = [f"{outcome.prediction.probabilities.get(label, float('nan')):8.4f}" for label in labels]
        decided = ",".join(outcome.prediction.labels) or "-"
        out.write("  ".join([name, *scores, "  " + decided]) + "\n")


def as_json(outcome: Outcome) -> dict[str, Any]:
    """One file's outcome as a JSON object."""
    if outcome.prediction is None:
        assert outcome.error is not None
        error = {"status": outcome.error.status, "code": outcome.error.code, "message": outcome.error.message}
        return {"file": str(outcome.path), "error": error}
    return {
        "file": str(outcome.path),
        "model": outcome.model.model_dump() if outcome.model else None,
        "probabilities": outcome.prediction.probabilities,
        "labels": outcome.prediction.labels,
    }


def write_json(outcomes: Sequence[Outcome], out: TextIO) -> None:
    """A JSON array, one object per file in the order named."""
    json.dump([as_json(outcome) for outcome in outcomes], out, indent=2)
    out.write("\n")
