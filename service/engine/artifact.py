"""Read a model artifact (``manifest.json`` + TorchScript file) from the store: the only module that does.

An artifact folder is ``<store>/<name>/<version>/`` and is written by the training side's exporter. This
module checks what it reads (manifest fields, sha256 of the TorchScript file, the block names the artifact
reports) and refuses anything inconsistent, so a corrupt or half-copied model never reaches the device.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from service.engine.types import BlockGeometry, ModelKey

MANIFEST_FILE = "manifest.json"


class ArtifactError(RuntimeError):
    """A model artifact, or the store that holds it, cannot be served (an operator fault, not a client one)."""


@dataclass
class LoadedModel:
    """A verified artifact loaded on a device, with what the engine needs from its manifest."""

    key: ModelKey
    manifest: dict[str, Any]
    module: torch.jit.ScriptModule
    device: torch.device
    labels: tuple[str, ...]
    thresholds: dict[str, float]
    input_size: tuple[int, int]
    blocks: tuple[BlockGeometry, ...]

    @property
    def block_names(self) -> tuple[str, ...]:
        """The conv blocks' names, shallowest first: the feature layers a request may ask for."""
        return tuple(block.name for block in self.blocks)


def read_manifest(folder: Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of an artifact folder (``ArtifactError`` when missing or not a JSON object)."""
    path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ArtifactError(f"cannot read {path}: {error}") from error
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path} is not a JSON object")
    return manifest


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pair(value: Any, field: str) -> tuple[int, int]:
    if not (isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise ArtifactError(f"manifest field {field} must be a pair of integers, got {value!r}")
    return int(value[0]), int(value[1])


def parse_blocks(manifest: dict[str, Any]) -> tuple[BlockGeometry, ...]:
    """The manifest's ``blocks`` list as ``BlockGeometry`` records, shallowest first."""
    try:
        return tuple(
            BlockGeometry(
                name=str(block["name"]),
                kernel=_pair(block["kernel"], "kernel"),
                stride=_pair(block["stride"], "stride"),
                padding=_pair(block["padding"], "padding"),
                in_channels=int(block["in_channels"]),
                out_channels=int(block["out_channels"]),
                output_size=_pair(block["output_size"], "output_size"),
            )
            for block in manifest["blocks"]
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(f"manifest has a malformed blocks list: {error!r}") from error


def _describe(manifest: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, float], tuple[int, int]]:
    try:
        labels = tuple(str(label) for label in manifest["labels"])
        thresholds = {label: float(manifest.get("thresholds", {}).get(label, 0.5)) for label in labels}
        input_size = int(manifest["input"]["height"]), int(manifest["input"]["width"])
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(f"manifest lacks labels or input size: {error!r}") from error
    return labels, thresholds, input_size


def _jit_load(path: Path, device: torch.device) -> torch.jit.ScriptModule:
    # torch 2.13 deprecates TorchScript in favour of torch.export, and warns on every torch.jit.load. The
    # artifact format is a user requirement, so the warning is acknowledged here, in the one place that loads.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit.*")
        module = torch.jit.load(str(path), map_location=device)
    return module.eval()


def load_artifact(folder: Path, device: torch.device) -> LoadedModel:
    """Verify and load the artifact in ``folder`` onto ``device``, in eval mode.

    Refuses (``ArtifactError``) when the manifest is malformed, the file's sha256 differs from the manifest's,
    or the artifact's block names disagree with the manifest's blocks.
    """
    manifest = read_manifest(folder)
    try:
        key = ModelKey(str(manifest["name"]), int(manifest["version"]))
        file = folder / Path(str(manifest["file"])).name  # a bare file name: the manifest cannot point elsewhere
        expected = str(manifest["sha256"])
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(f"{folder / MANIFEST_FILE} lacks name, version, file or sha256: {error!r}") from error
    if not file.is_file():
        raise ArtifactError(f"{file} is missing")
    actual = sha256_of(file)
    if actual != expected:
        raise ArtifactError(f"{file} has sha256 {actual}, the manifest says {expected}: refusing a modified artifact")
    labels, thresholds, input_size = _describe(manifest)
    blocks = parse_blocks(manifest)
    module = _jit_load(file, device)
    reported = tuple(module.block_names())
    if reported != tuple(block.name for block in blocks):
        raise ArtifactError(f"{file} reports blocks {reported}, the manifest lists {[b.name for b in blocks]}")
    return LoadedModel(key, manifest, module, device, labels, thresholds, input_size, blocks)
