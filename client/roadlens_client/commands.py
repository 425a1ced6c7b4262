"""The handlers of the ``roadlens`` subcommands: each takes the parsed arguments and returns an exit code.

Errors are not caught here: ``roadlens_client.cli`` turns them into one line on stderr and an exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.machinery
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from roadlens_client.aio import AsyncClient
from roadlens_client.batch import expand, predict_files, write_json, write_table
from roadlens_client.client import Client
from roadlens_client.models import Segmentation
from roadlens_client.retry import RetryPolicy

EXIT_OK = 0
EXIT_FAILED = 1  # predict: some files got an error answer (each is named); or an unreadable answer
EXIT_USAGE = 2  # bad arguments, a missing input file, an output format the command cannot write
EXIT_NOT_INSTALLED = 6  # serve / train: the server package is not installed next to the client


# Query parameters the explain command sets from its own options, never through --param.
OWN_OPTIONS = frozenset({"format", "overlay", "raw", "size", "target", "model", "version"})


class UsageError(ValueError):
    """The arguments cannot work (reported like argparse's own errors, exit code 2)."""


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """The connection options every client-side command shares."""
    return {
        "api_key": args.api_key or None,
        "timeout": args.timeout,
        "retry": RetryPolicy(retries=args.retries),
    }


def sync_client(args: argparse.Namespace) -> Client:
    """A blocking client configured from the global options."""
    return Client(args.url, **client_options(args))


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """``model`` / ``version`` keyword arguments from the subcommand's options."""
    return {"model": args.model, "version": args.model_version}


def write_output(target: str, data: bytes) -> None:
    """Write ``data`` to the file ``target``, or to stdout for ``-``; say where on stderr."""
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    Path(target).write_bytes(data)
    print(f"wrote {target}", file=sys.stderr)


def output_kind(target: str, accepted: tuple[str, ...]) -> str:
    """The output format from the file suffix (``-``: the first accepted, PNG); a usage error otherwise."""
    kind = accepted[0] if target == "-" else Path(target).suffix.lower().lstrip(".")
    if kind not in accepted:
        raise UsageError(f"cannot write {target!r}: the output must end in " + " or ".join(f".{k}" for k in accepted))
    return kind


def npy_bytes(array: np.ndarray) -> bytes:
    """One array in NumPy's .npy format."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Named arrays in NumPy's compressed .npz format."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def existing_file(name: str) -> Path:
    """The input file ``name`` (a usage error when missing)."""
    path = Path(name)
    if not path.is_file():
        raise UsageError(f"{name}: no such file")
    return path


def predict(args: argparse.Namespace) -> int:
    """``roadlens predict``."""
    paths = expand(args.inputs)
    progress = args.progress if args.progress is not None else (len(paths) > 1 and sys.stderr.isatty())
    outcomes = asyncio.run(_predict(args, paths, progress))
    (write_json if args.json else write_table)(outcomes, sys.stdout)
    return EXIT_FAILED if any(outcome.error for outcome in outcomes) else EXIT_OK


async def _predict(args: argparse.Namespace, paths: list[Path], progress: bool) -> list[Any]:
    async with AsyncClient(args.url, **client_options(args)) as client:
        return await predict_files(client, paths, args.concurrency, progress, **model_options(args))


def visualbackprop(args: argparse.Namespace) -> int:
    """``roadlens visualbackprop``."""
    image, kind = existing_file(args.file), output_kind(args.output, ("png", "npy"))
    options = {"normalize_overlap": args.normalize_overlap, "size": args.size, **model_options(args)}
    with sync_client(args) as client:
        if kind == "png":
            data = client.visualbackprop_png(image, overlay=args.overlay, **options).png
        else:
            data = npy_bytes(client.visualbackprop(image, **options).mask)
    write_output(args.output, data)
    return EXIT_OK


def features(args: argparse.Namespace) -> int:
    """``roadlens features``."""
    image, kind = existing_file(args.file), output_kind(args.output, ("png", "npz"))
    with sync_client(args) as client:
        if kind == "png":
            data = client.features_grid(image, layers=args.layers, **model_options(args)).png
        else:
            data = npz_bytes(client.features(image, layers=args.layers, **model_options(args)).maps)
    write_output(args.output, data)
    return EXIT_OK


def explain(args: argparse.Namespace) -> int:
    """``roadlens explain``."""
    image, kind = existing_file(args.file), output_kind(args.output, ("png", "npy"))
    options: dict[str, Any] = {"target": args.target, "size": args.size, **model_options(args)}
    params: dict[str, Any] = parse_params(args.params)
    with sync_client(args) as client:
        if kind == "png":
            data = client.explain_png(args.method, image, overlay=args.overlay, **options, **params).png
        else:
            data = npy_bytes(client.explain(args.method, image, raw=args.raw, **options, **params).map)
    write_output(args.output, data)
    return EXIT_OK


def segment(args: argparse.Namespace) -> int:
    """``roadlens segment``: the mask as PNG (or the overlay) or NPY, or its pieces and lengths as JSON."""
    image, kind = existing_file(args.file), output_kind(args.output, ("png", "npy", "json"))
    if args.overlay and kind != "png":
        raise UsageError("--overlay draws a picture: the output must end in .png")
    with sync_client(args) as client:
        if kind == "png":
            data = client.segment_png(image, overlay=args.overlay, size=args.size, **model_options(args)).png
        else:
            result = client.segment(image, size=args.size, gsd_m=args.gsd_m, **model_options(args))
            data = npy_bytes(result.mask) if kind == "npy" else road_json(result)
            print(road_summary(result), file=sys.stderr)
    write_output(args.output, data)
    return EXIT_OK


def road_json(result: Segmentation) -> bytes:
    """The answer without its mask array: the decision, the lengths and the pieces."""
    body = result.model_dump(mode="json", exclude={"mask"})
    return (json.dumps(body, indent=2) + "\n").encode()


def road_summary(result: Segmentation) -> str:
    """One line: road or not, how many pieces, how long."""
    if not result.road:
        return f"no road (p = {next(iter(result.probabilities.values())):.3f}): empty mask"
    metres = f" ({result.length_m:,.1f} m)" if result.length_m is not None else ""
    return f"road: {len(result.pieces)} piece(s), {result.road_pixels} px, {result.length_px:,.1f} px long{metres}"


def class_model(args: argparse.Namespace) -> int:
    """``roadlens class-model``: the image as PNG or NPY, and its score on stderr."""
    kind = output_kind(args.output, ("png", "npy"))
    options = {"target": args.target, "steps": args.steps, "seed": args.seed, "layer": args.layer}
    with sync_client(args) as client:
        result = client.class_model(**options, channel=args.channel, **model_options(args))
    data = _picture(result.image) if kind == "png" else npy_bytes(result.image)
    what = result.target or f"{result.layer} channel {result.channel}"
    print(f"{what}: p({next(iter(result.probabilities))}) = {result.probability:.5f} after {result.steps} steps "
          f"(seed {result.seed})", file=sys.stderr)  # fmt: skip
    write_output(args.output, data)
    return EXIT_OK


def _picture(image: np.ndarray) -> bytes:
    """An H x W x 3 image in [0, 1] as an 8-bit PNG (the same pixels the server's PNG has)."""
    buffer = io.BytesIO()
    Image.fromarray((np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``["steps=32", "sigma=0.1"]`` -> ``{"steps": "32", "sigma": "0.1"}`` (the server checks the values)."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param {pair!r}: expected NAME=VALUE")
        if name.strip() in OWN_OPTIONS:
            raise UsageError(f"--param {name.strip()}: use the command's own --{name.strip().replace('_', '-')} option")
        params[name.strip()] = value.strip()
    return params


def methods(args: argparse.Namespace) -> int:
    """``roadlens methods``."""
    with sync_client(args) as client:
        catalog = client.methods(**model_options(args))
    print(f"targets: {', '.join(catalog.targets)} (default {catalog.default_target})")
    for method in catalog.methods:
        if not method.applicable:
            print(f"\n{method.name}: not applicable to {catalog.model.name}: {method.reason}")
            continue
        print(f"\n{method.name}: {method.summary or ''}")
        for param in method.params:
            accepted = _accepted(param.minimum, param.maximum, param.choices)
            print(f"  --param {param.name}=...  default {param.default}{accepted}: {param.description}")
    return EXIT_OK


def _accepted(minimum: float | None, maximum: float | None, choices: list[str] | None) -> str:
    if choices:
        return f", one of {', '.join(choices)}"
    if minimum is not None or maximum is not None:
        return f", {'' if minimum is None else minimum}..{'' if maximum is None else maximum}"
    return ""


def models(args: argparse.Namespace) -> int:
    """``roadlens models``."""
    with sync_client(args) as client:
        found = client.models()
    for model in found:
        marker = " (default)" if model.default else ""
        labels, layers = ", ".join(model.labels), ", ".join(model.layers)
        print(f"{model.name}:{model.version}{marker}  labels: {labels}  layers: {layers}")
    return EXIT_OK


def health(args: argparse.Namespace) -> int:
    """``roadlens health``: ready or not (a ``NotReady`` error exits with the unavailable code)."""
    with sync_client(args) as client:
        ready = client.readiness()
    print(f"ready on {ready.device}: " + ", ".join(f"{m.name}:{m.version}" for m in ready.models))
    return EXIT_OK


def importable(module: str) -> bool:
    """True when ``python -m module`` would find ``module`` (nothing is imported to find out)."""
    try:
        if importlib.util.find_spec(module) is not None:
            return True
    except ModuleNotFoundError:  # its parent package is missing from this environment
        pass
    # `python -m` also searches the working directory, such as a RoadLens checkout that is not installed.
    locations = [str(Path.cwd())]
    for part in module.split("."):
        spec = importlib.machinery.PathFinder.find_spec(part, locations)
        if spec is None:
            return False
        locations = list(spec.submodule_search_locations or [])
    return True


def run_module(module: str, arguments: list[str]) -> int:
    """``python -m module arguments`` with this interpreter: its exit code, or a clear word when not installed."""
    if not importable(module):
        print(
            f"roadlens: error: '{module}' of the RoadLens server is not installed in {sys.prefix}; "
            "install the server (pip install -e . in a RoadLens checkout) to use this command",
            file=sys.stderr,
        )
        return EXIT_NOT_INSTALLED
    try:
        return subprocess.call([sys.executable, "-m", module, *arguments])
    except KeyboardInterrupt:  # the child got the same Ctrl-C and shuts down on its own
        return 130
