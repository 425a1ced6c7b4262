"""The device the models run on, and the batch sizes that suit it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

UNIT = 1.0 / 255.0


def resolve_device(spec: str) -> torch.device:
    """``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as a concrete device; ``ValueError`` if unusable."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(spec)
    except RuntimeError as error:
        raise ValueError(f"device {spec!r} is not one of auto, cpu, cuda, cuda:N") from error
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise ValueError(f"device {spec!r} is not one of auto, cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} requested but CUDA is not available")
    index = torch.cuda.current_device() if device.index is None else device.index
    if index >= torch.cuda.device_count():
        raise ValueError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


def default_explain_batch(device: torch.device) -> int:
    """Forward passes per device batch of an explanation when the settings name none.

    Measured on a 2-core CPU: occlusion runs 2.7x and SmoothGrad 1.6x faster per image in batches of 16 than
    of 64 (a gradient pass at 96 x 96 keeps ~0.7 MB of activations per image, and 64 of them leave the caches).
    A GPU wants large batches.
    """
    return 128 if device.type == "cuda" else 16


def default_forward_batch(device: torch.device) -> int | None:
    """Most images in one inference forward pass when the settings name none (None: the whole batch).

    Measured on a 2-core CPU in the device worker with one torch thread (ms per image, median of four rounds):
    a batch of 32 took 1.27-1.47 in one pass and 0.59-0.61 in passes of 8; a batch of 16, 0.68-0.77 and
    0.55-0.63. A large pass's activations leave the caches, and glibc hands such large blocks back to the
    kernel when they are freed, so every pass also pays page faults for fresh memory (with the allocator told
    to keep them, one pass of 32 still cost 1.25x more per image than passes of 8). A GPU wants the whole batch.
    """
    return None if device.type == "cuda" else 8


def image_batch(images: Sequence[np.ndarray], to_device: Callable[[np.ndarray], torch.Tensor]) -> torch.Tensor:
    """``N x 3 x H x W`` float32 in [0, 1] on the device, from images that are uint8 (0-255: how decoded 8-bit
    uploads travel) or float32 in [0, 1] (16-bit and float uploads); ``to_device`` moves a host batch there.

    uint8 images cross to the device as bytes and are scaled there: a quarter of the bytes to copy. The result
    equals decoding straight to float32 (``uint8 * float32(1 / 255)`` either way).
    """
    if all(image.dtype == np.uint8 for image in images):
        return to_device(np.stack(images)).float().mul_(UNIT)
    floats = [image.astype(np.float32) * np.float32(UNIT) if image.dtype == np.uint8 else image for image in images]
    return to_device(np.stack(floats).astype(np.float32, copy=False))


def copier(device: torch.device) -> Callable[[np.ndarray], torch.Tensor]:
    """A plain host-to-``device`` copy (on the CPU, the array itself)."""
    if device.type != "cuda":
        return torch.from_numpy
    return lambda batch: torch.from_numpy(batch).to(device)
