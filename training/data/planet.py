"""Loader for Planet's public layout, used for the synthetic data and the real Amazon chips alike.

Layout::

    <root>/train_v2.csv          image_name,tags   (tags space-separated)
    <root>/train-jpg/<name>.jpg  any size, any colour mode (Planet's own are 256 x 256, often CMYK)
    <root>/train-mask/<name>.png optional road masks (255 = road)

Large sets are decoded by a process pool. The decoded tiles and their tags are cached in ``<root>/.cache/``
under a key made of the size, the number of rows and the CSV's size and modification time (not the labels:
targets are rebuilt from the cached tags), so a second load of 40k tiles takes seconds. A read-only root just
goes uncached.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from numpy.typing import NDArray

from training.data.imaging import read_mask, read_rgb
from training.data.layout import CSV_NAME, IMAGE_DIR, IMAGE_SUFFIXES, MASK_DIR
from training.data.tileset import DEFAULT_LABELS, TileSet, multi_hot

CACHE_DIR = ".cache"
CACHE_FORMAT = 2
PARALLEL_MIN = 2000  # below this many files, worker start-up costs more than it saves
log = logging.getLogger(__name__)
T = TypeVar("T")


def read_tags(csv_path: Path) -> list[tuple[str, list[str]]]:
    """The (image_name, tags) rows of a Planet tags CSV, in file order."""
    with csv_path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"image_name", "tags"} <= set(reader.fieldnames):
            raise ValueError(f"{csv_path}: expected the header 'image_name,tags'")
        return [(row["image_name"], row["tags"].split()) for row in reader]


def parallel_map(fn: Callable[[Path, int], T], paths: Sequence[Path], size: int, workers: int) -> list[T]:
    """``fn(path, size)`` for every path, in order.

    Decoding a small JPEG is mostly Python overhead that holds the GIL, so large sets go to ``workers``
    processes (spawned, not forked: safe from a multi-threaded parent); small ones stay in this process,
    where starting workers would cost more than it saves.
    """
    if workers <= 1 or len(paths) < PARALLEL_MIN:
        return [fn(p, size) for p in paths]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(fn, paths, [size] * len(paths), chunksize=256))


def find_image(folder: Path, name: str) -> Path:
    """``folder/name.jpg``, or the same name with another image suffix (users' exports are not always JPEG)."""
    jpg = folder / f"{name}.jpg"
    if jpg.exists():
        return jpg
    for suffix in IMAGE_SUFFIXES:
        candidate = folder / f"{name}{suffix}"
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"no image for {name!r} in {folder}")


def load_planet(
    root: str | Path,
    labels: Sequence[str] = DEFAULT_LABELS,
    size: int = 96,
    limit: int | None = None,
    workers: int = 2,
    cache: bool = True,
) -> TileSet:
    """Load ``<root>/train_v2.csv`` + ``train-jpg/`` (+ ``train-mask/`` if present) as a :class:`TileSet`.

    ``labels`` picks the target columns: ``("road",)`` for the single-label problem, ``ALL_PLANET_TAGS`` for
    all 17. ``limit`` keeps the first rows of the CSV. Images are resized to ``size`` (bilinear).
    """
    root = Path(root)
    rows = read_tags(root / CSV_NAME)[:limit]
    labels = tuple(labels)
    cache_path = root / CACHE_DIR / f"tiles-{_cache_key(root, size, len(rows))}.pt"
    if cache and cache_path.exists():
        return _load_cache(cache_path, labels)
    tiles = _decode(root, rows, labels, size, workers)
    if cache:
        _save_cache(tiles, [tags for _, tags in rows], cache_path)
    return tiles


def _decode(root: Path, rows: list[tuple[str, list[str]]], labels: tuple[str, ...], size: int, workers: int) -> TileSet:
    names = [name for name, _ in rows]
    image_dir = root / IMAGE_DIR
    images = parallel_map(read_rgb, [find_image(image_dir, n) for n in names], size, workers)
    mask_dir = root / MASK_DIR
    masks = None
    if mask_dir.is_dir():
        masks = torch.from_numpy(_stack(parallel_map(read_mask, [mask_dir / f"{n}.png" for n in names], size, workers)))
    return TileSet(
        images=torch.from_numpy(_stack(images)),
        targets=multi_hot([tags for _, tags in rows], labels),
        names=names,
        labels=labels,
        masks=masks,
    )


def _stack(arrays: list[NDArray[T]]) -> NDArray[T]:  # type: ignore[type-var]
    return np.stack(arrays) if arrays else np.zeros((0,), dtype=np.uint8)  # type: ignore[return-value]


def _cache_key(root: Path, size: int, count: int) -> str:
    """Changes whenever the CSV, the size or the number of rows changes."""
    stat = (root / CSV_NAME).stat()
    masks = (root / MASK_DIR).is_dir()
    text = f"{CACHE_FORMAT}|{size}|{count}|{stat.st_size}|{stat.st_mtime_ns}|{masks}"
    return f"{size}px-{count}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _save_cache(tiles: TileSet, tags: list[list[str]], path: Path) -> None:
    """Write atomically (temp file + rename) so a killed run never leaves a half-written cache."""
    masks = None if tiles.masks is None else torch.from_numpy(np.packbits(tiles.masks.numpy(), axis=-1))
    payload = {"images": tiles.images, "tags": [" ".join(t) for t in tags], "names": tiles.names, "masks": masks}
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only dataset is fine, just slower next time
        log.info("not caching %s: %s", path, exc)


def _load_cache(path: Path, labels: tuple[str, ...]) -> TileSet:
    payload = torch.load(path, weights_only=True)
    masks = payload["masks"]
    size = payload["images"].shape[-1]
    if masks is not None:
        masks = torch.from_numpy(np.unpackbits(masks.numpy(), axis=-1, count=size).astype(np.bool_))
    targets = multi_hot([t.split() for t in payload["tags"]], labels)
    return TileSet(payload["images"], targets, list(payload["names"]), labels, masks)
