"""Write a synthetic dataset in Planet's layout (see :mod:`training.data.planet`).

    python -m training.data.generate --out data/synthetic --count 40479 --seed 0 --road-fraction 0.5 --workers 2

Tiles are generated in chunks by a process pool; every tile depends on (seed, index) only, so the files do
not depend on the number of workers. ``train_v2.csv`` and ``dataset.json`` are written last, so a folder with
a ``dataset.json`` is complete.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from training.data.layout import CSV_NAME, IMAGE_DIR, MANIFEST_NAME, MASK_DIR
from training.data.synthetic import VERSIONS, SyntheticConfig, make_tile

JPEG_QUALITY = 90
SUBSAMPLING = 0  # 4:4:4: chroma subsampling would smear the colour of 1 px roads
CHUNK = 256


@dataclass(frozen=True)
class Job:
    """One chunk of tiles for one worker."""

    out: Path
    seed: int
    start: int
    stop: int
    config: SyntheticConfig


def tile_name(index: int) -> str:
    """Planet's naming: ``train_<index>``."""
    return f"train_{index}"


def write_chunk(job: Job) -> list[tuple[str, str]]:
    """Generate and write tiles ``start..stop-1``; returns their (image_name, tags) rows."""
    rows = []
    for index in range(job.start, job.stop):
        tile = make_tile(job.seed, index, job.config)
        name = tile_name(index)
        Image.fromarray(tile.image).save(
            job.out / IMAGE_DIR / f"{name}.jpg", quality=JPEG_QUALITY, subsampling=SUBSAMPLING
        )
        Image.fromarray(tile.road_mask.astype("uint8") * 255).save(job.out / MASK_DIR / f"{name}.png")
        rows.append((name, " ".join(tile.tags)))
    return rows


def _jobs(out: Path, count: int, seed: int, config: SyntheticConfig, chunk: int) -> list[Job]:
    return [Job(out, seed, start, min(start + chunk, count), config) for start in range(0, count, chunk)]


def _run(jobs: list[Job], workers: int) -> Iterator[list[tuple[str, str]]]:
    if workers <= 1:
        yield from map(write_chunk, jobs)
        return
    # spawned, not forked: forking a parent that runs threads (tqdm's monitor, torch) can deadlock
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(write_chunk, jobs)


def write_dataset(
    out: str | Path,
    count: int,
    seed: int = 0,
    config: SyntheticConfig | None = None,
    workers: int = 1,
    progress: bool = False,
    chunk: int = CHUNK,
) -> Path:
    """Generate ``count`` tiles into ``out`` (Planet layout + masks + dataset.json); returns the folder."""
    out, config = Path(out), config or SyntheticConfig()
    for folder in (IMAGE_DIR, MASK_DIR):
        (out / folder).mkdir(parents=True, exist_ok=True)
    (out / MANIFEST_NAME).unlink(missing_ok=True)  # an interrupted rewrite must not look complete
    rows: list[tuple[str, str]] = []
    with tqdm(total=count, unit="tile", disable=not progress) as bar:
        for written in _run(_jobs(out, count, seed, config, chunk), workers):
            rows += written
            bar.update(len(written))
    with (out / CSV_NAME).open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image_name", "tags"])
        writer.writerows(rows)
    manifest = {
        "kind": "synthetic",
        "count": count,
        "seed": seed,
        "road_fraction": config.road_fraction,
        "size": config.size,
        "generator_version": str(config.version),
    }
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--count", type=int, default=40479, help="number of tiles (Planet's train set has 40,479)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--road-fraction", type=float, default=0.5, help="share of tiles with a road")
    parser.add_argument("--size", type=int, default=96, help="tile side in pixels")
    parser.add_argument("--workers", type=int, default=2, help="processes")
    parser.add_argument("--version", type=int, default=1, choices=VERSIONS, help="generator version (see data.md)")
    args = parser.parse_args(argv)
    if not 0.0 <= args.road_fraction <= 1.0:
        parser.error("--road-fraction must lie in [0, 1]")
    config = SyntheticConfig(size=args.size, road_fraction=args.road_fraction, version=args.version)
    out = write_dataset(args.out, args.count, args.seed, config, args.workers, progress=True)
    print(f"wrote {args.count} tiles to {out}")


if __name__ == "__main__":
    main()
