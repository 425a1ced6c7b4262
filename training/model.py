"""The road classifier from the brief, and the stage interface that the exported artifact keeps.

The network is a chain of *stages*. Each stage maps the previous activation to a pre-activation
(conv + batchnorm for the four conv blocks, global max-pool + linear + batchnorm1d for the hidden
layer), and every stage is followed by its own ``nn.ReLU`` module. A final linear layer turns the last
activation into one logit per label. Keeping the ReLUs as separate, non-inplace modules is what lets
hook-based libraries (Captum's guided backprop) and our own stage-by-stage gradient code modify the
ReLU backward pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

# ImageNet statistics are a poor fit for satellite tiles; these are the per-channel mean/std of the
# synthetic training tiles (measured once, rounded). They live in the artifact, so clients send plain RGB.
DEFAULT_MEAN = (0.30, 0.36, 0.24)
DEFAULT_STD = (0.12, 0.11, 0.10)


@dataclass(frozen=True)
class BlockSpec:
    """Geometry of one conv block: what VisualBackProp needs to undo its upsampling."""

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    padding: int

    def output_size(self, size: int) -> int:
        return (size + 2 * self.padding - self.kernel) // self.stride + 1


BRIEF_BLOCKS = (
    BlockSpec("block0", 3, 8, kernel=1, stride=1, padding=0),
    BlockSpec("block1", 8, 32, kernel=3, stride=2, padding=1),
    BlockSpec("block2", 32, 32, kernel=3, stride=2, padding=1),
    BlockSpec("block3", 32, 64, kernel=3, stride=2, padding=1),
)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network (stored in checkpoints and the manifest)."""

    labels: tuple[str, ...] = ("road",)
    input_size: int = 96
    hidden: int = 512
    blocks: tuple[BlockSpec, ...] = BRIEF_BLOCKS
    mean: tuple[float, float, float] = DEFAULT_MEAN
    std: tuple[float, float, float] = DEFAULT_STD
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> ModelConfig:
        blocks = tuple(BlockSpec(**b) for b in data.get("blocks", [asdict(b) for b in BRIEF_BLOCKS]))
        return ModelConfig(
            labels=tuple(data["labels"]),
            input_size=int(data.get("input_size", 96)),
            hidden=int(data.get("hidden", 512)),
            blocks=blocks,
            mean=tuple(data.get("mean", DEFAULT_MEAN)),
            std=tuple(data.get("std", DEFAULT_STD)),
            extra=dict(data.get("extra", {})),
        )

    def map_sizes(self) -> list[int]:
        """Spatial size of each block's output, e.g. [96, 48, 24, 12] for the brief's network."""
        sizes, size = [], self.input_size
        for block in self.blocks:
            size = block.output_size(size)
            sizes.append(size)
        return sizes


class ConvStage(nn.Module):
    """conv -> batchnorm: the pre-activation of one conv block."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        self.conv = nn.Conv2d(spec.in_channels, spec.out_channels, spec.kernel, spec.stride, spec.padding, bias=False)
        self.bn = nn.BatchNorm2d(spec.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class HiddenStage(nn.Module):
    """global max-pool -> linear -> batchnorm1d: the pre-activation of the hidden layer."""

    def __init__(self, in_features: int, hidden: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, hidden, bias=False)
        self.bn = nn.BatchNorm1d(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.amax(x, dim=(2, 3))
        return self.bn(self.fc(pooled))


class Normalize(nn.Module):
    """Per-channel standardisation inside the network, so callers send RGB in [0, 1]."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Buffers are typed as Tensor | Module by nn.Module; class annotations would break TorchScript here.
        return (x - self.mean) / self.std  # type: ignore[operator]


class RoadNet(nn.Module):
    """The brief's CNN. Input: N x 3 x H x W RGB in [0, 1]. Output: N x len(labels) logits."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.normalize = Normalize(config.mean, config.std)
        stages: list[nn.Module] = [ConvStage(spec) for spec in config.blocks]
        stages.append(HiddenStage(config.blocks[-1].out_channels, config.hidden))
        self.stages = nn.ModuleList(stages)
        self.relus = nn.ModuleList(nn.ReLU(inplace=False) for _ in stages)
        self.output = nn.Linear(config.hidden, len(config.labels))

    @property
    def num_blocks(self) -> int:
        return len(self.config.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.normalize(x)
        for stage, relu in zip(self.stages, self.relus, strict=True):
            a = relu(stage(a))
        return self.output(a)

    def conv_modules(self) -> dict[str, nn.Module]:
        """Each conv block's ReLU, keyed by block name: the modules whose outputs are the feature maps."""
        return {spec.name: self.relus[i] for i, spec in enumerate(self.config.blocks)}


def build_model(config: ModelConfig, seed: int | None = None) -> RoadNet:
    """A freshly initialised network (deterministic when a seed is given)."""
    if seed is not None:
        torch.manual_seed(seed)
    return RoadNet(config)
