"""The model store: ``<root>/<name>/<version>/manifest.json``, scanned once, then resolved from memory.

Layout as Triton's repository: numeric version folders under a model name; the highest version is a name's
default. Nothing a client sends ever becomes a path: ``resolve`` validates the name and version first and then
looks them up in what the scan found, without touching the file system.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from service.engine.artifact import MANIFEST_FILE, ArtifactError, read_manifest
from service.engine.types import ModelKey
from service.errors import InvalidParameter, UnknownModel

logger = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
VERSION_PATTERN = re.compile(r"^[1-9][0-9]{0,8}$")


class ModelStoreError(ArtifactError):
    """The store cannot be served: missing, empty, or holding folders that disagree with their manifests."""


def validate_name(name: object) -> str:
    """``name`` if it is a well-formed model name, else ``InvalidParameter``."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidParameter(
            "model name must be 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit",
            detail={"parameter": "model", "pattern": NAME_PATTERN.pattern},
        )
    return name


def validate_version(version: object) -> int:
    """``version`` if it is a positive integer (bools refused), else ``InvalidParameter``."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidParameter("model version must be a positive integer", detail={"parameter": "version"})
    return version


class ModelStore:
    """The models found under ``root`` and the default one.

    ``default_model``: the name ``resolve(None, ...)`` means; None picks the only name, or the alphabetically
    first. Raises ``ModelStoreError`` when the root is missing or holds no model, or the default is unknown.
    """

    def __init__(self, root: Path, default_model: str | None = None) -> None:
        self.root = root
        self._manifests = _scan(root)
        self._versions: dict[str, list[int]] = {}
        for key in sorted(self._manifests, key=lambda k: (k.name, k.version)):
            self._versions.setdefault(key.name, []).append(key.version)
        if not self._versions:
            raise ModelStoreError(f"no model found under {root} (expected <name>/<version>/{MANIFEST_FILE})")
        if default_model is not None and default_model not in self._versions:
            raise ModelStoreError(f"default model {default_model!r} is not in {root}: {self.known()}")
        self.default_name = default_model if default_model is not None else min(self._versions)

    def list_keys(self) -> list[ModelKey]:
        """Every model version found, sorted by name then version."""
        return [ModelKey(name, version) for name, versions in sorted(self._versions.items()) for version in versions]

    def known(self) -> dict[str, list[int]]:
        """Each name's versions, ascending (what error details show)."""
        return {name: list(versions) for name, versions in sorted(self._versions.items())}

    @property
    def default_key(self) -> ModelKey:
        """The default name at its newest version."""
        return ModelKey(self.default_name, self._versions[self.default_name][-1])

    def folder(self, key: ModelKey) -> Path:
        """The artifact folder of a key that ``resolve`` returned."""
        return self.root / key.name / str(key.version)

    def manifest(self, key: ModelKey) -> dict[str, Any]:
        """The manifest read during the scan."""
        return self._manifests[key]

    def resolve(self, name: str | None, version: int | None) -> ModelKey:
        """The key for ``name`` (None: the default) at ``version`` (None: the newest).

        ``InvalidParameter`` for a malformed name or version, ``UnknownModel`` (with what is known) otherwise.
        """
        name = self.default_name if name is None else validate_name(name)
        if version is not None:
            validate_version(version)
        versions = self._versions.get(name)
        if versions is None:
            raise UnknownModel(f"no model named {name!r}", detail={"model": name, "known": self.known()})
        if version is None:
            return ModelKey(name, versions[-1])
        if version not in versions:
            raise UnknownModel(
                f"model {name!r} has no version {version}",
                detail={"model": name, "version": version, "versions": list(versions)},
            )
        return ModelKey(name, version)


def _scan(root: Path) -> dict[ModelKey, dict[str, Any]]:
    if not root.is_dir():
        raise ModelStoreError(f"model store {root} is not a directory")
    found: dict[ModelKey, dict[str, Any]] = {}
    for name_dir in sorted(root.iterdir()):
        if not name_dir.is_dir() or name_dir.name.startswith("."):
            logger.debug("model store: skipping %s (a file or a hidden folder)", name_dir)
            continue
        if not NAME_PATTERN.fullmatch(name_dir.name):
            logger.warning(
                "model store: skipping folder %s: %r is not a model name (%s)",
                name_dir,
                name_dir.name,
                NAME_PATTERN.pattern,
            )
            continue
        for version_dir in sorted(name_dir.iterdir()):
            # staging folders of an export in progress (".3-abc") and stray files are not versions
            if not version_dir.is_dir() or not VERSION_PATTERN.fullmatch(version_dir.name):
                continue
            if not (version_dir / MANIFEST_FILE).is_file():
                logger.warning("model store: %s has no %s, skipped", version_dir, MANIFEST_FILE)
                continue
            key = ModelKey(name_dir.name, int(version_dir.name))
            found[key] = _checked_manifest(version_dir, key)
    return found


def _checked_manifest(folder: Path, key: ModelKey) -> dict[str, Any]:
    manifest = read_manifest(folder)
    if manifest.get("name") != key.name or manifest.get("version") != key.version:
        raise ModelStoreError(
            f"{folder} holds a manifest for {manifest.get('name')!r} version {manifest.get('version')!r}; "
            "the folder names must match the manifest"
        )
    return manifest
