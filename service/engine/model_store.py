"""The model store: ``<root>/<name>/<version>/manifest.json``, scanned once, then resolved from memory.

Layout as Triton's repository: numeric version folders under a model name; the highest version is a name's
default. Resolving a request's model (``catalogue.Catalogue``) never touches the file system.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from service.engine.artifact import MANIFEST_FILE, ArtifactError, read_manifest
from service.engine.catalogue import NAME_PATTERN, VERSION_PATTERN, Catalogue
from service.engine.types import ModelKey

logger = logging.getLogger(__name__)


class ModelStoreError(ArtifactError):
    """The store cannot be served: missing, empty, or holding folders that disagree with their manifests."""


class ModelStore(Catalogue):
    """The models found under ``root`` and the default one.

    ``default_model``: the name ``resolve(None, ...)`` means; None picks the only name, or the alphabetically
    first. Raises ``ModelStoreError`` when the root is missing or holds no usable manifest, or the default is
    unknown. A version whose manifest is unreadable or disagrees with its folder is left out and listed in
    ``problems`` with why.
    """

    def __init__(self, root: Path, default_model: str | None = None) -> None:
        self.root = root
        self.default_model = default_model
        manifests, self.problems = _scan(root)
        names = sorted({key.name for key in manifests})
        if not names:
            raise ModelStoreError(f"no model found under {root} (expected <name>/<version>/{MANIFEST_FILE})")
        if default_model is not None and default_model not in names:
            known = {name: sorted(k.version for k in manifests if k.name == name) for name in names}
            raise ModelStoreError(f"default model {default_model!r} is not in {root}: {known}")
        super().__init__(manifests, default_model if default_model is not None else names[0])

    def folder(self, key: ModelKey) -> Path:
        """The artifact folder of a key that ``resolve`` returned."""
        return self.root / key.name / str(key.version)


def _scan(root: Path) -> tuple[dict[ModelKey, dict[str, Any]], dict[ModelKey, str]]:
    """Every version's manifest, and the versions whose manifest cannot be used, with why."""
    if not root.is_dir():
        raise ModelStoreError(f"model store {root} is not a directory")
    found: dict[ModelKey, dict[str, Any]] = {}
    problems: dict[ModelKey, str] = {}
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
            try:
                found[key] = _checked_manifest(version_dir, key)
            except ArtifactError as error:  # one bad version is that version's problem, not the store's
                logger.error("model store: %s:%s cannot be served: %s", key.name, key.version, error)
                problems[key] = str(error)
    return found, problems


def _checked_manifest(folder: Path, key: ModelKey) -> dict[str, Any]:
    manifest = read_manifest(folder)
    if manifest.get("name") != key.name or manifest.get("version") != key.version:
        raise ModelStoreError(
            f"{folder} holds a manifest for {manifest.get('name')!r} version {manifest.get('version')!r}; "
            "the folder names must match the manifest"
        )
    return manifest
