"""Cost of every explanation method per image: ours (as the service batches it) against Captum, same model, same run.

    python -m benchmarks.explain_bench [--store model_store --name roadnet | --model-dir DIR] [--images 32]
        [--threads 2] [--out docs/benchmarks.md]

Ours: the registry's function on a batch of ``--images`` tiles (forward passes packed in device batches of the
service's default size), and the
same method one image per call. Captum 0.9 on the same weights: the loaded artifact for the methods that work on
it (Saliency, IntegratedGradients, NoiseTunnel, Occlusion), the eager network rebuilt from the artifact's weights
for the hook-based ones (GuidedBackprop, LayerGradCam, GuidedGradCam). Captum runs at its defaults
(``perturbations_per_eval=1``, ``internal_batch_size=None``, ``nt_samples_batch_size=None``) with the same amount
of work as ours (50 steps, 25 samples, a 16-pixel window every 8 pixels). VisualBackProp has no Captum
counterpart: its row compares it with one forward pass, the paper's claim being that it costs less than one.

The table goes into ``--out`` between the ``explain_bench`` marker comments; the rest of the file (the HTTP
benchmark of ``benchmarks/serve_bench.py``) is left as it is.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from captum.attr import (
    GuidedBackprop,
    GuidedGradCam,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Occlusion,
    Saliency,
)

from service.engine.artifact import LoadedModel, load_artifact
from service.engine.device import default_explain_batch
from service.engine.explainer import network_of
from service.explain.base import Network
from service.explain.functions import FUNCTIONS
from service.explain.registry import METHODS, Limits, resolve_params
from training.explanations.tiles import fresh_tiles
from training.model import ModelConfig, RoadNet

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 10  # interleaved rounds of the VisualBackProp-vs-forward timings
BEGIN, END = "<!-- explain_bench:begin -->", "<!-- explain_bench:end -->"
Timed = Callable[[torch.Tensor], object]


def seconds_per_call(fn: Timed, x: torch.Tensor, repeats: int) -> float:
    """Best wall time of ``fn(x)`` over ``repeats`` calls after one untimed call (TorchScript profiles its first
    runs). The minimum, not the median: on a shared machine, slower calls measure the neighbours."""
    fn(x)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - started)
    return min(times)


def ours(network: Network, name: str) -> Timed:
    """The served method at its default parameters on a batch (the road logit as target)."""
    params = resolve_params(METHODS[name], {"seed": 0} if name == "smoothgrad" else {}, Limits())
    return lambda x: FUNCTIONS[name](network, x, torch.ones(len(x), 1), params)


def eager_twin(model: LoadedModel) -> RoadNet:
    """The eager network with the artifact's weights: Captum's hooks need real ``nn.ReLU`` modules."""
    eager = RoadNet(ModelConfig.from_dict(model.manifest["model_config"])).eval()
    eager.load_state_dict(model.module.state_dict())
    return eager


def captum_methods(model: LoadedModel) -> dict[str, Timed]:
    """Captum's counterpart of each method, at its defaults except for the amount of work."""
    jit, eager = model.module, eager_twin(model)
    size = model.input_size
    return {
        "saliency": lambda x: Saliency(jit).attribute(x, target=0),
        "smoothgrad": lambda x: NoiseTunnel(Saliency(jit)).attribute(
            x, nt_type="smoothgrad", nt_samples=25, stdevs=0.15, target=0
        ),
        "guided_backprop": lambda x: GuidedBackprop(eager).attribute(x, target=0),
        "gradcam": lambda x: LayerAttribution.interpolate(
            LayerGradCam(eager, eager.relus[3]).attribute(x, target=0, relu_attributions=True), size, "bilinear"
        ),
        "guided_gradcam": lambda x: GuidedGradCam(eager, eager.relus[3]).attribute(x, target=0),
        "occlusion": lambda x: Occlusion(jit).attribute(
            x, sliding_window_shapes=(3, 16, 16), strides=(3, 8, 8), target=0
        ),
        "integrated_gradients": lambda x: IntegratedGradients(jit).attribute(x, target=0),
    }


def measure(model: LoadedModel, images: torch.Tensor, repeats: int) -> list[tuple[str, float, float, float | None]]:
    """(method, ours batched, ours one image per call, Captum batched), milliseconds per image."""
    network, captum = network_of(model, default_explain_batch(model.device)), captum_methods(model)
    rows = []
    for name in METHODS:
        n = len(images)
        slow = name in ("smoothgrad", "occlusion", "integrated_gradients")
        reps = 2 if slow else repeats
        batched = seconds_per_call(ours(network, name), images, reps) / n
        single = seconds_per_call(ours(network, name), images[:1], reps)
        theirs = seconds_per_call(captum[name], images, reps) / n if name in captum else None
        rows.append((name, 1000 * batched, 1000 * single, None if theirs is None else 1000 * theirs))
        print(rows[-1], flush=True)
    return rows


def vbp_costs(model: LoadedModel, images: torch.Tensor, rounds: int) -> dict[str, float]:
    """Milliseconds per image of a forward pass, of one that also returns the feature maps, of VisualBackProp in
    all, and of its mask alone (from feature maps already computed). Measured in interleaved rounds, best of each:
    on a shared machine a quantity timed in a quieter moment would make the ratios mean nothing."""
    from service.engine.types import VBPOptions
    from service.explain.visualbackprop import visualbackprop

    network, road = network_of(model, default_explain_batch(model.device)), torch.ones(len(images), 1)
    with torch.inference_mode():
        _, features = model.module.forward_with_features(images)
    timed: dict[str, Timed] = {
        "forward": lambda x: model.module.forward(x),
        "forward_with_features": lambda x: model.module.forward_with_features(x),
        "vbp": lambda x: FUNCTIONS["visualbackprop"](network, x, road, {"normalize_overlap": False}),
        "vbp_mask": lambda _x: visualbackprop(features, model.blocks, model.input_size, VBPOptions()),
    }
    best = {name: float("inf") for name in timed}
    with torch.inference_mode():
        for _ in range(rounds):
            for name, fn in timed.items():
                best[name] = min(best[name], seconds_per_call(fn, images, 1))
    return {name: 1000 * seconds / len(images) for name, seconds in best.items()}


def table(rows: list[tuple[str, float, float, float | None]], n: int) -> list[str]:
    """The Markdown rows of the report."""
    lines = [
        f"| method | ours, batch of {n} (ms / image) | ours, one image per call | Captum, batch of {n} "
        "| Captum / ours (batched) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, batched, single, theirs in rows:
        captum = "no Captum method" if theirs is None else f"{theirs:.2f}"
        ratio = "" if theirs is None else f"{theirs / batched:.1f}x"
        lines.append(f"| {name} | {batched:.2f} | {single:.2f} | {captum} | {ratio} |")
    return lines


def report(rows: list[tuple[str, float, float, float | None]], costs: dict[str, float], n: int, threads: int) -> str:
    """The section written between the markers."""
    forward, mask, vbp = costs["forward"], costs["vbp_mask"], costs["vbp"]
    return "\n".join(
        [
            BEGIN,
            "## Explanation methods: cost per image",
            "",
            f"Made by `python -m benchmarks.explain_bench` on {platform.machine()} CPU, {threads} torch threads, "
            f"{n} synthetic road tiles, the shipped artifact; ours and Captum {_captum_version()} in the same run "
            "(best of repeated calls after a warm-up call). Captum at its defaults "
            "(`perturbations_per_eval=1`, `internal_batch_size=None`) with the same work as ours: 50 "
            "integrated-gradients steps, 25 SmoothGrad samples, a 16-pixel occlusion window every 8 pixels; "
            "guided backprop and Grad-CAM on the eager network with the artifact's weights (Captum's hooks do not "
            "attach to a TorchScript module).",
            "",
            *table(rows, n),
            "",
            f"- one forward pass: **{forward:.3f} ms** per image; with the feature maps "
            f"(`forward_with_features`): {costs['forward_with_features']:.3f} ms (best of {ROUNDS} interleaved "
            "rounds).",
            f"- VisualBackProp, timed in the same interleaved rounds: **{vbp:.3f} ms** per image in all "
            f"({vbp / forward:.2f} forward passes, its own included), of which the mask itself (channel means, "
            f"ones-kernel deconvolutions, products) is **{mask:.3f} ms = {mask / forward:.2f} forward passes** "
            "(the paper's claim: less than one).",
            END,
        ]
    )


def _captum_version() -> str:
    import captum

    return str(captum.__version__)


def write_section(path: Path, section: str) -> None:
    """Replace the text between the markers (or append the section): the rest of the file is kept."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> None:
    """Measure, print and write the section."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=ROOT / "model_store", help="model store root")
    parser.add_argument("--name", default="roadnet", help="model name (newest version)")
    parser.add_argument("--model-dir", type=Path, default=None, help="an artifact folder (overrides --store)")
    parser.add_argument("--images", type=int, default=32, help="tiles per batch")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per cheap method (best is kept)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="Markdown report")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=r".*(require gradients|backward hooks on ReLU).*")
    folder = args.model_dir or max((args.store / args.name).iterdir(), key=lambda p: int(p.name))
    model = load_artifact(folder, torch.device("cpu"))
    images = fresh_tiles(args.images, model.input_size[0]).images
    rows = measure(model, images, args.repeats)
    costs = vbp_costs(model, images, ROUNDS)
    section = report(rows, costs, args.images, args.threads)
    print(section)
    write_section(args.out, section)
    print(f"wrote the explain_bench section of {args.out}")


if __name__ == "__main__":
    main()
