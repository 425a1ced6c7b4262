"""What every explanation method is called with, and the stage-by-stage forward pass they share.

A method is one pure function ``(network, batch, targets, params) -> maps``:

- ``network``: a ``Network``, the artifact plus what the manifest says about it;
- ``batch``: ``N x 3 x H x W`` float32 RGB in [0, 1] on the network's device (the artifact normalises inside);
- ``targets``: ``N x L`` float weights on the ``L`` logits; the explained score of image ``n`` is
  ``(logits[n] * targets[n]).sum()`` (``+1`` on the road logit by default, ``-1`` for ``not_road``);
- ``params``: the method's parameters, validated and with defaults filled in (``registry.resolve_params``);

and returns ``N x H x W`` float32 maps at the input size, in the method's own units (signed for occlusion and
integrated gradients). Images never interact: BatchNorm runs in eval mode, so the gradient of the *sum* of the
per-image scores is every image's own gradient, and one backward pass serves a whole batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from service.engine.types import BlockGeometry
from service.explain.params import ParamValue

__all__ = ["Activation", "Method", "Network", "ParamValue", "Params"]
Params = Mapping[str, ParamValue]
Activation = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Network:
    """An artifact as the methods see it.

    ``module`` follows the artifact contract of ``training/export.py`` (``forward_with_features``,
    ``normalize_input``, ``preactivation(k, a)``, ``head(a)``, ``num_stages()``). ``mean`` is the training mean
    colour (the ``mean`` baseline). ``max_batch`` bounds the forward passes of one device batch: methods that
    expand an image into many passes (occlusion, SmoothGrad, integrated gradients) pack them in ``parts`` of
    it, and stop between parts once ``interrupted()`` is true.
    """

    module: Any
    blocks: tuple[BlockGeometry, ...]
    input_size: tuple[int, int]
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    max_batch: int = 16
    interrupted: Callable[[], bool] = lambda: False

    @property
    def block_names(self) -> tuple[str, ...]:
        """The conv blocks, shallowest first."""
        return tuple(block.name for block in self.blocks)

    def parts(self, n: int) -> Iterator[slice]:
        """Device batches over ``n`` rows (``chunks`` of ``max_batch``), stopping with ``Interrupted`` before a
        batch when ``interrupted()`` says nobody waits for the result any more."""
        for part in chunks(n, self.max_batch):
            if self.interrupted():
                raise Interrupted("the explanation was stopped: nobody waits for it")
            yield part


class Interrupted(Exception):
    """An explanation stopped between device batches because every request in it was given up."""


Method = Callable[[Network, torch.Tensor, torch.Tensor, Params], torch.Tensor]


def forward_stages(
    network: Network, x: torch.Tensor, relu: Activation = torch.relu
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits and every stage's activation, with ``relu`` after each stage (a custom one for guided backprop).

    Calls the artifact's exported stages in order: hooks cannot be attached to a ``torch.jit.load``ed module.
    """
    module = network.module
    a = module.normalize_input(x)
    activations = []
    for k in range(int(module.num_stages())):
        a = relu(module.preactivation(k, a))
        activations.append(a)
    return module.head(a), activations


def scores(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each image's explained score: its logits weighted by its target row (``N``)."""
    return (logits.float() * targets.to(logits.device, torch.float32)).sum(dim=1)


def chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``range(n)`` of at most ``size`` items."""
    for start in range(0, n, max(1, size)):
        yield slice(start, min(start + size, n))


def gradient_of_scores(
    network: Network, x: torch.Tensor, targets: torch.Tensor, relu: Activation = torch.relu
) -> torch.Tensor:
    """d score / d input for one device batch (``N x 3 x H x W``): one backward over the summed scores."""
    with torch.enable_grad():
        xs = x.detach().float().requires_grad_(True)
        logits, _ = forward_stages(network, xs, relu)
        (grad,) = torch.autograd.grad(scores(logits, targets).sum(), xs)
    return grad


def input_gradients(
    network: Network, x: torch.Tensor, targets: torch.Tensor, relu: Activation = torch.relu
) -> torch.Tensor:
    """d score / d input for every image (``N x 3 x H x W``), in device batches of ``network.max_batch``."""
    out = torch.empty(x.shape, dtype=torch.float32, device=x.device)
    for part in network.parts(x.shape[0]):
        out[part] = gradient_of_scores(network, x[part], targets[part], relu)
    return out


def expanded_rows(part: slice, per_image: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """For rows ``part`` of an image-major expansion (``per_image`` rows per image): (image, copy) indices."""
    rows = torch.arange(part.start, part.stop, device=device)
    return rows // per_image, rows % per_image


def abs_max_channels(gradients: torch.Tensor) -> torch.Tensor:
    """``N x C x H x W`` -> ``N x H x W``: the largest magnitude over colour channels (Simonyan et al.)."""
    return gradients.abs().amax(dim=1)


def repeat_rows(tensor: torch.Tensor, times: int) -> torch.Tensor:
    """Each row repeated ``times`` in a row: ``[a, b] -> [a, a, b, b]`` for ``times=2``."""
    return tensor.repeat_interleave(times, dim=0)


def param(params: Params, name: str, kind: type[Any]) -> Any:
    """A parameter the registry has already checked, with its type asserted for the type checker."""
    value = params[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"parameter {name} should be {kind.__name__}, got {value!r}")
    return value
