"""Score every served explanation method on road tiles with masks, against an untrained network of the same shape.

Per method: pointing game and road mass against the dilated road mask, deletion and insertion AUC (RISE),
milliseconds per image, and the cascading model-randomisation sanity check (Adebayo et al., 2018). The maps come
from ``service.explain``, the code the service runs, on the artifact loaded by the service's own loader.
``python -m training.explanations`` runs this and writes the report.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from service.engine.artifact import read_manifest
from service.explain.base import Network
from service.explain.common import display_maps
from service.explain.functions import FUNCTIONS
from service.explain.registry import METHODS
from training.explanations.metrics import deletion_insertion, dilate, pointing_game, road_mass, spearman
from training.explanations.results import TIMED_RUNS, Evaluation, Options, RoadTiles, Scores, Variant
from training.explanations.sanity import layer_groups, randomised
from training.explanations.segment_tiles import validation_split
from training.explanations.tiles import validation_tiles

ROAD = torch.tensor([1.0])
EXPANDING = ("smoothgrad", "occlusion", "integrated_gradients")  # their device batches do not follow the image batch


def warm_up(network: Network, images: torch.Tensor, variant: Variant, batch: int) -> None:
    """Two untimed calls first, at the timed batch size: TorchScript profiles a code path on its first runs and
    oneDNN builds its convolutions once per shape, neither of which is the method's cost."""
    size = 2 if variant.method in EXPANDING else batch
    for _ in range(2):
        compute_maps(network, images[:size], variant, size)


def compute_maps(network: Network, images: torch.Tensor, variant: Variant, batch: int) -> tuple[torch.Tensor, float]:
    """The variant's raw maps for every image, in batches of ``batch``, and the seconds it took."""
    function, params = FUNCTIONS[variant.method], variant.params
    started, parts = time.perf_counter(), []
    for start in range(0, len(images), batch):
        x = images[start : start + batch]
        parts.append(function(network, x, ROAD.expand(len(x), 1), params).detach().float())
    return torch.cat(parts), time.perf_counter() - started


def forward_seconds(network: Network, images: torch.Tensor, batch: int) -> float:
    """Seconds of one plain forward pass over ``images``, batched like the methods."""
    with torch.inference_mode():
        started = time.perf_counter()
        for start in range(0, len(images), batch):
            network.module.forward(images[start : start + batch])
        return time.perf_counter() - started


def timed_maps(
    network: Network, images: torch.Tensor, variant: Variant, batch: int
) -> tuple[torch.Tensor, float, float]:
    """The maps, and the best of ``TIMED_RUNS`` timings of the method and of a forward pass, in alternation (one
    method run for the expanding methods, whose runs are long): on a shared machine, the ratio of two timings
    taken minutes apart would measure the neighbours."""
    warm_up(network, images, variant, batch)
    forward_seconds(network, images, batch)
    maps, seconds = compute_maps(network, images, variant, batch)
    forward = forward_seconds(network, images, batch)
    for _ in range(1, TIMED_RUNS):
        if variant.method not in EXPANDING:
            seconds = min(seconds, compute_maps(network, images, variant, batch)[1])
        forward = min(forward, forward_seconds(network, images, batch))
    return maps, seconds, forward


def curves(network: Network, images: torch.Tensor, maps: torch.Tensor, options: Options) -> tuple[float, float]:
    """Mean deletion and insertion AUC of ``maps`` on ``network``."""
    deletions, insertions = [], []
    for start in range(0, len(images), options.batch):
        part = slice(start, start + options.batch)
        targets = ROAD.expand(len(images[part]), 1)
        d, i = deletion_insertion(network, images[part], targets, maps[part], options.curve_steps)
        deletions.append(d)
        insertions.append(i)
    return float(torch.cat(deletions).mean()), float(torch.cat(insertions).mean())


def score_maps(
    label: str, trained: torch.Tensor, untrained: torch.Tensor, network: Network, tiles: RoadTiles, options: Options
) -> Scores:
    """Localisation of both networks' maps; deletion and insertion of both orders on the trained network."""
    masks = dilate(tiles.masks)
    deletion, insertion = curves(network, tiles.images, trained, options)
    deletion_u, insertion_u = curves(network, tiles.images, untrained, options)
    return Scores(
        label,
        float(pointing_game(trained, masks).mean()),
        float(pointing_game(untrained, masks).mean()),
        float(road_mass(trained, masks).mean()),
        float(road_mass(untrained, masks).mean()),
        deletion,
        deletion_u,
        insertion,
        insertion_u,
        ms_per_image=0.0,
    )


def sanity(trained_raw: torch.Tensor, cascade: list[torch.Tensor]) -> list[float]:
    """Mean Spearman correlation of |map| between the trained network and each randomisation depth."""
    n = len(cascade[0])
    reference = trained_raw[:n].abs().numpy()
    return [float(np.mean([spearman(reference[i], maps[i].abs().numpy()) for i in range(n)])) for maps in cascade]


def evaluate(options: Options) -> Evaluation:
    """Run everything; see the module docstring."""
    started = time.perf_counter()
    manifest = read_manifest(options.model_dir)
    tiles = road_tiles(manifest, options)
    depth = len(layer_groups(tuple(b["name"] for b in manifest["blocks"])))
    trained = randomised(options.model_dir, 0, options.max_batch)
    cascade_nets = [randomised(options.model_dir, d, options.max_batch) for d in range(1, depth + 1)]
    untrained, subset = cascade_nets[-1], tiles.images[: options.sanity_tiles]
    scores, figure_maps, forwards = [], {}, []
    for variant in options.variants:
        signed = METHODS[variant.method].signed
        raw, seconds, forward = timed_maps(trained, tiles.images, variant, options.batch)
        raw_u, _ = compute_maps(untrained, tiles.images, variant, options.batch)
        shown, shown_u = display_maps(raw, signed), display_maps(raw_u, signed)
        result = score_maps(variant.label, shown, shown_u, trained, tiles, options)
        result.ms_per_image = 1000.0 * seconds / len(tiles.images)
        result.forward_passes = seconds / forward
        forwards.append(1000.0 * forward / len(tiles.images))
        cascade = [compute_maps(net, subset, variant, options.batch)[0] for net in cascade_nets[:-1]]
        result.sanity = sanity(raw, [*cascade, raw_u[: len(subset)]])
        scores.append(result)
        figure_maps[variant.label] = (shown.numpy(), shown_u.numpy())
        print(f"{variant.label}: {result}", flush=True)
    noise = torch.rand(tiles.images[:, 0].shape, generator=torch.Generator().manual_seed(0))
    random = score_maps("random map", noise, noise, trained, tiles, options)
    return Evaluation(
        manifest=manifest,
        tiles=tiles,
        options=options,
        forward_ms=min(forwards),
        random=random,
        scores=scores,
        groups=[label for label, _ in layer_groups(tuple(b["name"] for b in manifest["blocks"]))],
        figure_maps=figure_maps,
        seconds=time.perf_counter() - started,
    )


def road_tiles(manifest: dict[str, Any], options: Options) -> RoadTiles:
    """The validation split's road tiles: from the dataset folder, else regenerated from a synthetic dataset's
    seed, else (or with ``options.fresh``) fresh generator tiles."""
    dataset = manifest.get("dataset") or {}
    folder = options.data or (Path(str(dataset["path"])) if dataset.get("path") else None)
    here = folder is not None and folder.is_dir()
    if options.fresh or here or dataset.get("kind") != "synthetic":
        return validation_tiles(manifest, options.tiles, options.data, options.fresh)
    split = validation_split(manifest, options.tiles, free=0)
    images = torch.from_numpy(split.images).float() / 255.0
    return RoadTiles(images, torch.from_numpy(split.masks), split.names, split.source)


def latest_version(store: Path, name: str) -> Path:
    """The newest numeric version folder of ``name`` in ``store``."""
    folder = store / name
    versions = sorted((int(p.name), p) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []
    if not versions:
        raise SystemExit(f"no version of {name!r} in {store}")
    return versions[-1][1]
