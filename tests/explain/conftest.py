"""Fixtures of the explanation tests: the session's exported artifact, its eager twin, and test images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from service.engine.artifact import LoadedModel, load_artifact
from service.engine.explainer import network_of
from service.explain.base import Network
from tests.service import images

ROAD = torch.tensor([[1.0]])
NOT_ROAD = torch.tensor([[-1.0]])


@pytest.fixture(scope="package", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # The development machine has 2 shared cores: two intra-op threads competing with other work are several
    # times slower than one. Restored after this package's tests.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def artifact(model_store: Path) -> LoadedModel:
    """``roadnet`` version 2 loaded by the service's own loader (``torch.jit.load`` inside)."""
    return load_artifact(model_store / "roadnet" / "2", torch.device("cpu"))


@pytest.fixture(scope="session")
def network(artifact: LoadedModel) -> Network:
    """The methods' view of the artifact, with small device batches so that chunking is exercised."""
    return network_of(artifact, max_batch=16)


@pytest.fixture(scope="session")
def batch() -> torch.Tensor:
    """Three pictures with a bright 'road' and one of uniform noise, 4 x 3 x 96 x 96 in [0, 1]."""
    pictures = [images.as_array(images.tile(seed)) for seed in (1, 2, 3)]
    pictures.append(np.random.default_rng(0).random((3, 96, 96), dtype=np.float32))
    return torch.from_numpy(np.stack(pictures))


@pytest.fixture(scope="session")
def targets() -> torch.Tensor:
    """Road, not_road, road, not_road: both decisions in one batch."""
    return torch.tensor([[1.0], [-1.0], [1.0], [-1.0]])


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    """Largest difference relative to the reference's largest magnitude."""
    scale = float(reference.abs().max())
    assert scale > 0, "a reference of zeros compares nothing"
    return float((ours - reference).abs().max()) / scale
