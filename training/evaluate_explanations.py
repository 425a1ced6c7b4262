"""Score every served explanation method on road tiles with masks, against an untrained network of the same shape.

    python -m training.evaluate_explanations [--store model_store --name roadnet | --model-dir DIR] [--tiles 96]
        [--out docs/explanations.md] [--figures docs/figures/explanations]

Per method: pointing game and road mass against the dilated road mask, deletion and insertion AUC (RISE),
milliseconds per image, and the cascading model-randomisation sanity check (Adebayo et al., 2018). The maps come
from ``service.explain``, the code the service runs, on the artifact loaded by the service's own loader. The
report (``--out``) holds the table, the figures and what the numbers mean for someone choosing a method.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from service.engine.artifact import read_manifest
from service.explain.base import Network, ParamValue
from service.explain.common import display_maps
from service.explain.functions import FUNCTIONS
from service.explain.registry import METHODS, Limits, resolve_params
from training.explain_data import RoadTiles, validation_tiles
from training.explain_metrics import deletion_insertion, dilate, pointing_game, road_mass, spearman
from training.explain_sanity import layer_groups, randomised


@dataclass(frozen=True)
class Variant:
    """One row of the report: a served method with its parameters (defaults unless given)."""

    label: str
    method: str
    given: dict[str, ParamValue] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, ParamValue]:
        """Every parameter, checked by the registry exactly as for an HTTP request."""
        return resolve_params(METHODS[self.method], self.given, Limits())


VARIANTS = (
    Variant("visualbackprop", "visualbackprop"),
    Variant("visualbackprop (overlap-normalised)", "visualbackprop", {"normalize_overlap": True}),
    Variant("saliency", "saliency"),
    Variant("smoothgrad", "smoothgrad", {"seed": 0}),
    Variant("guided_backprop", "guided_backprop"),
    Variant("gradcam", "gradcam"),
    Variant("guided_gradcam", "guided_gradcam"),
    Variant("occlusion", "occlusion"),
    Variant("integrated_gradients", "integrated_gradients"),
)
ROAD = torch.tensor([1.0])


@dataclass(frozen=True)
class Options:
    """What to evaluate and how much of it."""

    model_dir: Path
    tiles: int = 96
    sanity_tiles: int = 16
    curve_steps: int = 16
    batch: int = 32
    max_batch: int = 16  # the service's default on CPU (service.engine.device.default_explain_batch)
    data: Path | None = None
    fresh: bool = False  # fresh synthetic tiles even when the validation split is on this machine
    variants: tuple[Variant, ...] = VARIANTS


@dataclass
class Scores:
    """One variant's figures; ``*_untrained`` are the same method on the untrained network."""

    label: str
    pointing: float
    pointing_untrained: float
    mass: float
    mass_untrained: float
    deletion: float
    deletion_untrained: float
    insertion: float
    insertion_untrained: float
    ms_per_image: float
    forward_passes: float = 0.0  # ms_per_image over one forward pass timed in the same rounds
    sanity: list[float] = field(default_factory=list)  # mean Spearman at each randomisation depth, top first


@dataclass
class Evaluation:
    """Everything the report shows."""

    manifest: dict[str, Any]
    tiles: RoadTiles
    options: Options
    forward_ms: float
    random: Scores
    scores: list[Scores]
    groups: list[str]
    figure_maps: dict[str, tuple[np.ndarray, np.ndarray]]  # label -> (trained, untrained) display maps
    seconds: float


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


TIMED_RUNS = 3  # the best of these is reported: on a shared machine, slower runs measure the neighbours


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
    tiles = validation_tiles(manifest, options.tiles, options.data, options.fresh)
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


def latest_version(store: Path, name: str) -> Path:
    """The newest numeric version folder of ``name`` in ``store``."""
    folder = store / name
    versions = sorted((int(p.name), p) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []
    if not versions:
        raise SystemExit(f"no version of {name!r} in {store}")
    return versions[-1][1]


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate_explanations", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--store", type=Path, default=Path("model_store"), help="model store root")
    parser.add_argument("--name", default="roadnet", help="model name (its newest version is evaluated)")
    parser.add_argument("--model-dir", type=Path, default=None, help="an artifact folder (overrides --store/--name)")
    parser.add_argument("--data", type=Path, default=None, help="dataset folder (default: the manifest's)")
    parser.add_argument("--tiles", type=int, default=96, help="road tiles scored")
    parser.add_argument("--sanity-tiles", type=int, default=16, help="tiles of the randomisation check")
    parser.add_argument("--curve-steps", type=int, default=16, help="steps of the deletion / insertion curves")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=Path("docs/explanations.md"), help="Markdown report")
    parser.add_argument("--figures", type=Path, default=Path("docs/figures/explanations"), help="figure folder")
    parser.add_argument("--no-ci-run", action="store_true", help="skip the CI-sized run reported beside the bars")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Evaluate, then write the report and its figures."""
    from training.explain_ci import ci_options
    from training.explain_report import write_report  # matplotlib is only needed here

    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    model_dir = args.model_dir or latest_version(args.store, args.name)
    options = Options(model_dir, args.tiles, args.sanity_tiles, args.curve_steps, data=args.data)
    evaluation = evaluate(options)
    ci = None if args.no_ci_run else evaluate(ci_options(model_dir))
    write_report(evaluation, args.out, args.figures, ci)
    print(f"wrote {args.out} and {args.figures}/ in {evaluation.seconds:.0f} s")


if __name__ == "__main__":
    main()
