"""The model store and artifact loading: scanning, resolving, refusing what is unsafe or corrupt."""

from __future__ import annotations

import builtins
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from service.engine.artifact import ArtifactError, load_artifact
from service.engine.model_store import ModelStore, ModelStoreError
from service.engine.types import ModelKey
from service.errors import InvalidParameter, UnknownModel

MALICIOUS = ["../x", "/etc", "a/b", "%2e%2e", "..", ".", "", "Tiny", "tiny/../tiny", "tiny\x00", "x" * 65, " tiny"]


@pytest.fixture
def offline(store: Path, monkeypatch: pytest.MonkeyPatch) -> ModelStore:
    """A scanned store; any file-system access after the scan fails the test."""
    scanned = ModelStore(store)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the file system was touched: {args!r}")

    for module, name in [(os, "stat"), (os, "lstat"), (os, "scandir"), (os, "listdir"), (os, "open")]:
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(io, "open", refuse)
    return scanned


def test_scans_names_and_versions(store: Path) -> None:
    models = ModelStore(store)
    assert models.list_keys() == [ModelKey("tiny", 1), ModelKey("tiny", 2), ModelKey("zeta", 1)]
    assert models.known() == {"tiny": [1, 2], "zeta": [1]}
    assert models.default_key == ModelKey("tiny", 2)  # alphabetically first name, newest version
    assert ModelStore(store, default_model="zeta").default_key == ModelKey("zeta", 1)
    assert models.manifest(ModelKey("tiny", 1))["version"] == 1


def test_resolves_defaults_and_explicit_versions(store: Path) -> None:
    models = ModelStore(store)
    assert models.resolve(None, None) == ModelKey("tiny", 2)
    assert models.resolve("tiny", 1) == ModelKey("tiny", 1)
    assert models.resolve("zeta", None) == ModelKey("zeta", 1)
    assert models.resolve(None, 1) == ModelKey("tiny", 1)


@pytest.mark.parametrize("name", MALICIOUS)
def test_malformed_names_are_refused_before_touching_disk(offline: ModelStore, name: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        offline.resolve(name, None)
    assert refused.value.detail["parameter"] == "model"


def test_resolving_needs_no_disk(offline: ModelStore) -> None:
    assert offline.resolve("zeta", None) == ModelKey("zeta", 1)
    with pytest.raises(UnknownModel):
        offline.resolve("etc", None)
    with pytest.raises(AssertionError, match="file system"):  # the guard itself works
        Path("/etc").exists()


@pytest.mark.parametrize("version", [0, -1, True, 1.0, "1"])
def test_malformed_versions_are_refused(store: Path, version: Any) -> None:
    with pytest.raises(InvalidParameter):
        ModelStore(store).resolve("tiny", version)


def test_unknown_names_and_versions_say_what_exists(store: Path) -> None:
    models = ModelStore(store)
    with pytest.raises(UnknownModel) as missing:
        models.resolve("nope", None)
    assert missing.value.detail["known"] == {"tiny": [1, 2], "zeta": [1]}
    with pytest.raises(UnknownModel) as missing:
        models.resolve("tiny", 3)
    assert missing.value.detail["versions"] == [1, 2]


def test_ignores_what_is_not_a_model_version(store: Path) -> None:
    (store / "tiny" / ".3-staging").mkdir()
    (store / "tiny" / "notes").mkdir()
    (store / "tiny" / "07").mkdir()
    (store / "Bad Name").mkdir()
    (store / "README.md").write_text("models\n")
    assert ModelStore(store).known() == {"tiny": [1, 2], "zeta": [1]}


def test_refuses_an_empty_or_missing_store_and_an_unknown_default(tmp_path: Path, store: Path) -> None:
    with pytest.raises(ModelStoreError, match="no model"):
        ModelStore(tmp_path)
    with pytest.raises(ModelStoreError, match="not a directory"):
        ModelStore(tmp_path / "missing")
    with pytest.raises(ModelStoreError, match="default model"):
        ModelStore(store, default_model="nope")


def test_leaves_out_a_manifest_that_disagrees_with_its_folder_and_says_why(store: Path) -> None:
    shutil.copytree(store / "zeta" / "1", store / "zeta" / "2")
    (store / "tiny" / "2" / "manifest.json").write_text("{not json")
    scanned = ModelStore(store)
    assert scanned.list_keys() == [ModelKey("tiny", 1), ModelKey("zeta", 1)]
    assert set(scanned.problems) == {ModelKey("tiny", 2), ModelKey("zeta", 2)}
    assert "must match" in scanned.problems[ModelKey("zeta", 2)]
    assert "cannot read" in scanned.problems[ModelKey("tiny", 2)]


def test_loads_a_verified_artifact(store: Path) -> None:
    model = load_artifact(store / "tiny" / "1", torch.device("cpu"))
    assert model.key == ModelKey("tiny", 1)
    assert model.labels == ("road",) and model.thresholds == {"road": 0.5}
    assert model.input_size == (96, 96)
    assert [b.output_size for b in model.blocks] == [(96, 96), (48, 48), (24, 24), (12, 12)]
    assert model.blocks[1].kernel == (3, 3) and model.blocks[1].stride == (2, 2) and model.blocks[1].padding == (1, 1)
    assert not model.module.training


def test_refuses_an_artifact_whose_checksum_differs(store: Path) -> None:
    path = store / "tiny" / "1" / "model.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        load_artifact(path.parent, torch.device("cpu"))


def test_refuses_a_manifest_without_blocks_or_checksum(store: Path) -> None:
    manifest_path = store / "tiny" / "1" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "blocks": [{"name": "block0"}]}))
    with pytest.raises(ArtifactError, match="blocks"):
        load_artifact(manifest_path.parent, torch.device("cpu"))
    del manifest["sha256"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="sha256"):
        load_artifact(manifest_path.parent, torch.device("cpu"))
