"""The models an engine serves: every version in the store that loads, and why the others do not.

A version that cannot be read or loaded (a corrupt or modified file, a manifest that disagrees with its folder)
is left out and reported; the rest are served. Requests naming no version get the newest version of the
default name that *loaded*: a broken new version makes them fall back to the newest one that works, while
``/models``, ``/readyz``, the ``roadlens_model_unavailable`` metric and the log say what is wrong. Only when
no version of the default name loads does the engine refuse to start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from service.engine.artifact import ArtifactError, LoadedModel, load_artifact
from service.engine.catalogue import Catalogue
from service.engine.model_store import ModelStore, ModelStoreError
from service.engine.types import ModelKey
from service.engine.worker import DeviceWorker

logger = logging.getLogger(__name__)

MAX_REASON_CHARS = 400


@dataclass(frozen=True)
class ModelSet:
    """The loaded versions, the catalogue requests are resolved in, and the versions left out with why."""

    catalogue: Catalogue
    models: dict[ModelKey, LoadedModel]
    problems: dict[ModelKey, str]


async def load_model_set(
    root: Path, default_model: str | None, worker: DeviceWorker, keep: Mapping[ModelKey, LoadedModel] | None = None
) -> ModelSet:
    """Scan the store and load every version on the worker's device, reusing the ``keep`` ones still there.

    Raises ``ModelStoreError`` when the store is missing or empty, or no version of the default name loads.
    """
    store = ModelStore(root, default_model)
    models: dict[ModelKey, LoadedModel] = {}
    problems = {key: _public(reason, root) for key, reason in store.problems.items()}
    for key in store.list_keys():
        if keep is not None and key in keep:
            models[key] = keep[key]
            continue
        try:
            models[key] = await _load(worker, store, key)
        except ArtifactError as error:
            logger.error("model %s:%s cannot be served: %s", key.name, key.version, error)
            problems[key] = _public(str(error), root)
    default = _default_name(store, models, problems)
    manifests = {key: model.manifest for key, model in models.items()}
    return ModelSet(Catalogue(manifests, default, problems), models, problems)


async def _load(worker: DeviceWorker, store: ModelStore, key: ModelKey) -> LoadedModel:
    model = await worker.call(load_artifact, store.folder(key), worker.device)
    if model.key != key:  # the folder changed between the scan and the load
        raise ArtifactError(f"{store.folder(key)} now holds {model.key.name}:{model.key.version}")
    return model


def _default_name(store: ModelStore, models: Mapping[ModelKey, LoadedModel], problems: Mapping[ModelKey, str]) -> str:
    """The configured default if any of its versions loaded; without one configured, the first name that did."""
    names = sorted({key.name for key in models})
    wanted = store.default_model or store.default_name
    if wanted in names:
        return wanted
    if store.default_model is None and names:
        return names[0]
    reasons = "; ".join(f"{k.name}:{k.version}: {why}" for k, why in sorted(problems.items()))
    raise ModelStoreError(f"no version of model {wanted!r} could be loaded ({reasons})")


def _public(reason: str, root: Path) -> str:
    """A reason fit for an API answer: paths relative to the store, and not too long."""
    text = reason.replace(f"{root.resolve()}/", "").replace(f"{root}/", "")
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."
