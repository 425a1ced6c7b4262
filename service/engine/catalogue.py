"""Which model versions are served and what a request's ``model`` and ``version`` mean: resolved from memory.

Nothing a client sends ever becomes a path: ``resolve`` validates the name and version first and then looks them
up among the versions known. The engine builds a catalogue from its model store; each front-end process from the
engine's state. Imports no torch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from service.engine.types import ModelInfo, ModelKey
from service.errors import InvalidParameter, ModelUnavailable, UnknownModel

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
VERSION_PATTERN = re.compile(r"^[1-9][0-9]{0,8}$")


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


class Catalogue:
    """Model versions and their manifests; ``default_name`` is what a request naming no model gets (it must be
    one of the names). ``unavailable``: versions known to exist but not served, with why (``ModelUnavailable``
    when a request names one)."""

    def __init__(
        self,
        manifests: Mapping[ModelKey, dict[str, Any]],
        default_name: str,
        unavailable: Mapping[ModelKey, str] | None = None,
    ) -> None:
        self._manifests = dict(manifests)
        self.unavailable = dict(unavailable or {})
        self._versions: dict[str, list[int]] = {}
        for key in sorted(self._manifests, key=lambda k: (k.name, k.version)):
            self._versions.setdefault(key.name, []).append(key.version)
        if default_name not in self._versions:
            raise ValueError(f"default model {default_name!r} is not among {sorted(self._versions)}")
        self.default_name = default_name

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
        if versions is not None and version is None:
            return ModelKey(name, versions[-1])
        if ModelKey(name, version or 0) in self.unavailable or (versions is None and self._has_unavailable(name)):
            raise ModelUnavailable(
                f"model {name!r}" + (f" version {version}" if version else "") + " is in the store but could not "
                "be loaded (GET /models says why); loaded versions: " + str(versions or []),
                detail={"model": name, "version": version, "versions": list(versions or [])},
            )
        if versions is None:
            raise UnknownModel(f"no model named {name!r}", detail={"model": name, "known": self.known()})
        if version not in versions:
            raise UnknownModel(
                f"model {name!r} has no version {version}",
                detail={"model": name, "version": version, "versions": list(versions)},
            )
        return ModelKey(name, version)

    def _has_unavailable(self, name: str) -> bool:
        return any(key.name == name for key in self.unavailable)

    def info(self, key: ModelKey) -> ModelInfo:
        """A key's entry: its manifest, and whether it is the default."""
        return ModelInfo(key, self._manifests[key], key == self.default_key)

    def infos(self) -> list[ModelInfo]:
        """Every version's entry, sorted by name then version."""
        return [self.info(key) for key in self.list_keys()]
