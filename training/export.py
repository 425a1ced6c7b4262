"""Export a trained RoadNet as a TorchScript artifact plus manifest into ``model_store/<name>/<version>/``.

This is the only module that writes artifacts (the service's ``engine/artifact.py`` is the only one that
reads them). A ``torch.jit.load``ed module rejects forward hooks, so everything the service needs is an
exported method of the artifact itself:

- ``forward(x)``: logits, x being N x 3 x H x W RGB in [0, 1];
- ``forward_with_features(x)``: (logits, [post-ReLU output of every conv block]) from one pass;
- ``normalize_input(x)``, ``preactivation(k, a)``, ``head(a)``: the network as a chain of stages, each
  followed by a ReLU that the caller applies itself. Calling them in order with a modified ReLU gives
  guided backprop; calling them with ``requires_grad`` inputs gives gradients w.r.t. the input or any stage.
- ``num_stages()``, ``block_names()``.

Run as ``python -m training.export --checkpoint runs/default/best.pt --store model_store --name roadnet``.
With ``calibrate`` (the command's default, and what a training run asks for), ``POST /segment``'s rule is measured
for the new model and stored in its manifest (``training.explanations.calibrate``) before the version appears.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.model import ModelConfig, RoadNet

ARTIFACT_FILE = "model.pt"
MANIFEST_FILE = "manifest.json"
PARITY_TOLERANCE = 1e-5
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ExportError(RuntimeError):
    """The artifact could not be written (bad name, or the scripted model disagrees with the eager one)."""


class ArtifactModule(nn.Module):
    """The scriptable face of a RoadNet: shares its weights, adds the methods the service calls."""

    def __init__(self, model: RoadNet) -> None:
        super().__init__()
        self.normalize = model.normalize
        self.stages = model.stages
        self.relus = model.relus
        self.output = model.output
        self.n_blocks = model.num_blocks
        self.n_stages = len(model.stages)
        self.names = [spec.name for spec in model.config.blocks]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[0]

    @torch.jit.export
    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features: list[torch.Tensor] = []
        a = self.normalize(x)
        for i, (stage, relu) in enumerate(zip(self.stages, self.relus)):  # noqa: B905 (TorchScript has no strict=)
            a = relu(stage(a))
            if i < self.n_blocks:
                features.append(a)
        return self.output(a), features

    @torch.jit.export
    def normalize_input(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(x)

    @torch.jit.export
    def preactivation(self, k: int, a: torch.Tensor) -> torch.Tensor:
        """Stage k's pre-activation from stage k-1's activation (the normalised input for k = 0)."""
        for i, stage in enumerate(self.stages):
            if i == k:
                return stage(a)
        raise ValueError("stage index out of range")

    @torch.jit.export
    def head(self, a: torch.Tensor) -> torch.Tensor:
        """Logits from the last stage's activation."""
        return self.output(a)

    @torch.jit.export
    def num_stages(self) -> int:
        return self.n_stages

    @torch.jit.export
    def block_names(self) -> list[str]:
        return self.names


@contextmanager
def _torchscript_deprecation_silenced() -> Iterator[None]:
    # torch 2.13 deprecates TorchScript in favour of torch.export; the artifact format is a user requirement,
    # so the warning is acknowledged here, once, rather than scattered across callers.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit.*")
        yield


def script_model(model: RoadNet) -> torch.jit.ScriptModule:
    """TorchScript the eval-mode network with the artifact's methods."""
    model = model.eval()
    with _torchscript_deprecation_silenced():
        return torch.jit.script(ArtifactModule(model))


def parity_report(model: RoadNet, scripted: torch.jit.ScriptModule, inputs: torch.Tensor) -> dict[str, float]:
    """Max abs difference between eager and scripted outputs: logits and every block's maps."""
    model = model.eval()
    eager_maps: dict[str, torch.Tensor] = {}
    handles = [
        module.register_forward_hook(lambda _m, _i, out, key=name: eager_maps.__setitem__(key, out.detach()))
        for name, module in model.conv_modules().items()
    ]
    try:
        with torch.no_grad():
            eager_logits = model(inputs)
            script_logits, script_maps = scripted.forward_with_features(inputs)
    finally:
        for handle in handles:
            handle.remove()
    report = {"logits": float((eager_logits - script_logits).abs().max())}
    for name, scripted_map in zip(eager_maps, script_maps, strict=True):
        report[name] = float((eager_maps[name] - scripted_map).abs().max())
    return report


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def next_version(model_dir: Path) -> int:
    versions = [int(p.name) for p in model_dir.iterdir() if p.name.isdigit()] if model_dir.is_dir() else []
    return max(versions, default=0) + 1


def build_manifest(model: RoadNet, name: str, version: int, metadata: dict[str, Any]) -> dict[str, Any]:
    """The artifact's description: everything a server or a reader needs, with no Python from training/."""
    config = model.config
    sizes = config.map_sizes()
    thresholds = metadata.get("thresholds") or {label: 0.5 for label in config.labels}
    blocks = [
        {
            "name": spec.name,
            "kernel": [spec.kernel, spec.kernel],
            "stride": [spec.stride, spec.stride],
            "padding": [spec.padding, spec.padding],
            "in_channels": spec.in_channels,
            "out_channels": spec.out_channels,
            "output_size": [size, size],
        }
        for spec, size in zip(config.blocks, sizes, strict=True)
    ]
    return {
        "name": name,
        "version": version,
        "format": "torchscript",
        "file": ARTIFACT_FILE,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
        "input": {
            "height": config.input_size,
            "width": config.input_size,
            "channels": 3,
            "colour_order": "RGB",
            "value_range": [0.0, 1.0],
            "normalization": {"mean": list(config.mean), "std": list(config.std), "applied_in_artifact": True},
            "resample": "bilinear",
        },
        "labels": list(config.labels),
        "output_activation": "sigmoid",
        "thresholds": thresholds,
        "blocks": blocks,
        "stages": len(config.blocks) + 1,
        "model_config": config.to_dict(),
        "training": metadata.get("training", {}),
        "dataset": metadata.get("dataset", {}),
        "metrics": metadata.get("metrics", {}),
    }


def export_model(
    model: RoadNet,
    store: Path,
    name: str,
    metadata: dict[str, Any] | None = None,
    version: int | None = None,
    parity_inputs: torch.Tensor | None = None,
    calibrate: bool = False,
) -> Path:
    """Script, verify parity, and write ``store/name/version/{model.pt,manifest.json}`` atomically (with
    ``calibrate``, the manifest's segmentation rule too).

    Refuses (``ExportError``) when the name is not a safe identifier, the version exists, or any parity
    difference exceeds ``PARITY_TOLERANCE``. Returns the version folder.
    """
    if not NAME_PATTERN.match(name):
        raise ExportError(f"model name {name!r} must match {NAME_PATTERN.pattern}")
    model = model.eval()
    scripted = script_model(model)
    if parity_inputs is None:
        size = model.config.input_size
        parity_inputs = torch.rand(8, 3, size, size, generator=torch.Generator().manual_seed(0))
    parity = parity_report(model, scripted, parity_inputs)
    worst = max(parity.values())
    if worst > PARITY_TOLERANCE:
        raise ExportError(f"eager and scripted outputs differ by {worst:.3g} > {PARITY_TOLERANCE}: {parity}")

    model_dir = store / name
    version = version if version is not None else next_version(model_dir)
    final_dir = model_dir / str(version)
    if final_dir.exists():
        raise ExportError(f"{final_dir} already exists; versions are immutable")
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=model_dir))
    try:
        with _torchscript_deprecation_silenced():
            scripted.save(str(staging / ARTIFACT_FILE))
        manifest = build_manifest(model, name, version, metadata or {})
        manifest["sha256"] = sha256_of(staging / ARTIFACT_FILE)
        manifest["parity_max_abs_diff"] = parity
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        if calibrate:
            _calibrate(staging, manifest)
        staging.chmod(0o755)  # mkdtemp makes it private; servers often run as another user
        os.replace(staging, final_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final_dir


def calibration_count(manifest: dict[str, Any]) -> int:
    """Calibration tiles per class for a new artifact: a tenth of its validation split, between 20 and 150."""
    validation = int((manifest.get("dataset") or {}).get("validation", 0) or 0)
    return max(20, min(150, validation // 10))


def _calibrate(folder: Path, manifest: dict[str, Any]) -> None:
    from training.explanations.calibrate import calibrate_artifact  # the service's code: loaded only when needed

    calibrate_artifact(folder, calibration_count(manifest))


def export_checkpoint(
    checkpoint: Path, store: Path, name: str, version: int | None = None, calibrate: bool = True
) -> Path:
    """Export the model saved by ``training.train`` (its checkpoint carries config and metadata)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = RoadNet(ModelConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model_state"])
    metadata = state.get("metadata", {})
    return export_model(model, store, name, metadata=metadata, version=version, calibrate=calibrate)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoint written by training.train")
    parser.add_argument("--store", type=Path, default=Path("model_store"), help="model store root")
    parser.add_argument("--name", default="roadnet", help="model name (lowercase letters, digits, - and _)")
    parser.add_argument("--version", type=int, default=None, help="numeric version (default: next free)")
    parser.add_argument(
        "--no-calibrate", action="store_true", help="skip measuring POST /segment's rule (the defaults apply)"
    )
    args = parser.parse_args(argv)
    try:
        folder = export_checkpoint(args.checkpoint, args.store, args.name, args.version, not args.no_calibrate)
    except ExportError as error:
        raise SystemExit(f"export refused: {error}") from error
    print(f"wrote {folder}")


if __name__ == "__main__":
    main()
