"""The model-randomisation sanity check of Adebayo et al. (2018), and the untrained network it ends with.

The trained artifact's weights are replaced by a fresh initialisation one layer group at a time, from the
output down to the first conv block (cumulative, "cascading"). A method whose maps stay the same while the
model is destroyed is explaining the image, not the model. With every group replaced the network is an
untrained network of the same shape: the comparison every method's scores need.

The artifact is loaded by the service's own loader and modified in place: a ``torch.jit.load``ed module's
parameters are ordinary tensors, and the copy keeps the exported methods the explanation code calls.
"""

from __future__ import annotations

from pathlib import Path

import torch

from service.engine.artifact import load_artifact
from service.engine.explainer import network_of
from service.explain.base import Network
from training.model import ModelConfig, build_model

INIT_SEED = 0


def layer_groups(block_names: tuple[str, ...]) -> list[tuple[str, str]]:
    """(label, state-dict prefix) of every layer group, top first: output, hidden, then the conv blocks."""
    blocks = [(name, f"stages.{i}.") for i, name in enumerate(block_names)]
    return [("output", "output."), ("hidden", f"stages.{len(block_names)}."), *reversed(blocks)]


def randomised(folder: Path, depth: int, max_batch: int, seed: int = INIT_SEED) -> Network:
    """The artifact in ``folder`` with its top ``depth`` layer groups freshly initialised (0: as trained)."""
    model = load_artifact(folder, torch.device("cpu"))
    fresh = build_model(ModelConfig.from_dict(model.manifest["model_config"]), seed=seed).state_dict()
    prefixes = [prefix for _, prefix in layer_groups(model.block_names)[:depth]]
    state = model.module.state_dict()
    with torch.no_grad():
        for key, tensor in state.items():
            if any(key.startswith(prefix) for prefix in prefixes):
                tensor.copy_(fresh[key])
    return network_of(model, max_batch)
