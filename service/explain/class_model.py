"""Class-model visualisation: the image the network scores highest for a target (Simonyan et al., 2013),
made readable by the regularisers of Yosinski et al. (2015).

Gradient ascent on the input for ``S(x) - L2 * ||x - mean||^2``, where ``S`` is the target's score (the logits
weighted by the target row: ``+road`` or ``-road`` for ``not_road``) or, for a conv block's channel, that channel's
mean post-ReLU activation, and ``mean`` is the training mean colour. Each step:

1. **jitter**: the image is shifted by up to ``JITTER`` pixels (wrapping around) before the gradient is taken and
   shifted back after, so no pattern can rely on exact pixel positions;
2. **step**: the gradient, divided by its mean magnitude, times ``STEP`` (the same progress whatever the logit's
   scale), then clamped to the valid range [0, 1];
3. every ``BLUR_EVERY`` steps, a Gaussian **blur** of ``BLUR_SIGMA`` pixels (high frequencies fade);
4. **clipping small contributions**: pixels whose contribution |(x - mean) * gradient| (summed over colours) is in
   the lowest ``CLIP_SHARE`` go back to the mean colour.

The start is the mean colour plus a little noise from ``seed``: the result is a pure function of the network, the
request and the seed (on one device). ``ClassModelRun`` advances in slices of steps, so the engine's device worker
can interleave other batches between them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from service.engine.types import ClassModelRequest, ClassModelResult
from service.explain.base import Network, forward_stages, scores
from service.explain.baselines import gaussian_blur

# Chosen by looking at the images and checking the scores (docs/explanations.md shows them): stronger blur or L2
# washes the image out and needs many more steps to reach the score; weaker leaves pixel noise.
STEP = 0.02  # in [0, 1] pixel units, per unit of mean gradient magnitude
L2 = 1.5  # weight of the mean squared distance from the mean colour (per value, so independent of the image size)
JITTER = 8
BLUR_EVERY = 4
BLUR_SIGMA = 1.0
CLIP_SHARE = 0.2
START_NOISE = 0.02
# The last steps are plain gradient ascent (no jitter, blur or clipping, a smaller step): each regulariser costs the
# score something that the steps after it win back, and the image returned must carry the score it was made for.
PLAIN_FINISH = 8
FINISH_STEP = 0.005


@dataclass
class ClassModelRun:
    """One gradient ascent in progress: ``advance`` some steps, then ``result``."""

    network: Network
    request: ClassModelRequest
    image: torch.Tensor
    mean: torch.Tensor
    generator: torch.Generator
    done: int = 0
    seconds: float = 0.0

    @classmethod
    def start(cls, network: Network, request: ClassModelRequest, device: torch.device) -> ClassModelRun:
        """The starting image (mean colour plus seeded noise) on ``device``."""
        generator = torch.Generator().manual_seed(request.seed)
        height, width = network.input_size
        mean = torch.tensor(network.mean, dtype=torch.float32).view(1, 3, 1, 1)
        noise = torch.randn((1, 3, height, width), generator=generator) * START_NOISE
        image = (mean + noise).clamp_(0.0, 1.0)
        return cls(network, request, image.to(device), mean.to(device), generator)

    @property
    def finished(self) -> bool:
        """True once every requested step has run."""
        return self.done >= self.request.steps

    def advance(self, steps: int) -> None:
        """Run up to ``steps`` more steps (synchronously: in the device worker)."""
        started = time.perf_counter()
        for _ in range(min(steps, self.request.steps - self.done)):
            self._step()
            self.done += 1
        self.seconds += time.perf_counter() - started

    def _step(self) -> None:
        regularised = self.done + 1 <= self.request.steps - PLAIN_FINISH
        jitter = JITTER if regularised else 0
        dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=self.generator))
        shifted = torch.roll(self.image, (dy, dx), dims=(2, 3)).requires_grad_(True)
        with torch.enable_grad():
            objective = self._objective(shifted) - L2 * (shifted - self.mean).pow(2).mean()
            (gradient,) = torch.autograd.grad(objective.sum(), shifted)
        gradient = torch.roll(gradient, (-dy, -dx), dims=(2, 3))
        with torch.no_grad():
            step = STEP if regularised else FINISH_STEP
            self.image += step * gradient / gradient.abs().mean().clamp_min(1e-12)
            if regularised:
                if (self.done + 1) % BLUR_EVERY == 0:
                    self.image = gaussian_blur(self.image, BLUR_SIGMA)
                self._clip_small(gradient)
            self.image.clamp_(0.0, 1.0)

    def _clip_small(self, gradient: torch.Tensor) -> None:
        contribution = ((self.image - self.mean) * gradient).abs().sum(dim=1, keepdim=True)
        flat = contribution.flatten()
        cut = flat.kthvalue(max(1, int(CLIP_SHARE * flat.numel()))).values
        small = (contribution <= cut).expand_as(self.image)
        self.image = torch.where(small, self.mean.expand_as(self.image), self.image)

    def _objective(self, x: torch.Tensor) -> torch.Tensor:
        """The score being raised: the target's logit combination, or a channel's mean activation."""
        if self.request.layer is None:
            target = torch.tensor([self.request.target], dtype=torch.float32, device=x.device)
            return scores(self.network.module.forward(x), target)
        _, activations = forward_stages(self.network, x)
        block = self.network.block_names.index(self.request.layer)
        return activations[block][:, int(self.request.channel or 0)].mean(dim=(1, 2))

    def result(self) -> ClassModelResult:
        """The image now, with the network's logits, probabilities and objective for it."""
        with torch.inference_mode():
            logits = self.network.module.forward(self.image).float()
            objective = float(self._objective(self.image)[0])
        return ClassModelResult(
            image=self.image[0].detach().to("cpu", torch.float32).numpy(),
            logits=_numpy(logits[0]),
            probabilities=_numpy(torch.sigmoid(logits[0])),
            objective=objective,
            steps=self.done,
            compute_ms=self.seconds * 1000.0,
        )


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float32).numpy()


def class_model_image(network: Network, request: ClassModelRequest, device: torch.device) -> ClassModelResult:
    """The whole ascent at once (see the module docstring)."""
    run = ClassModelRun.start(network, request, device)
    run.advance(request.steps)
    return run.result()
