"""Domain randomisation: deterministic per generator, bounded, and each transform doing what it says."""

from __future__ import annotations

import torch

from training.randomize import Randomization, gaussian_blur, randomize, zoom

OFF = Randomization(
    p_gray=0.0, p_stretch=0.0, gamma=(1.0, 1.0), contrast=(1.0, 1.0), brightness=0.0, channel_gain=0.0,
    saturation=(1.0, 1.0), p_blur=0.0, p_sharpen=0.0, p_noise=0.0, p_stripes=0.0, p_haze=0.0, p_zoom=0.0,
)  # fmt: skip


def batch(n: int = 16) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def test_same_generator_state_gives_the_same_batch_and_values_stay_in_range() -> None:
    first = randomize(batch(), torch.Generator().manual_seed(5), Randomization())
    second = randomize(batch(), torch.Generator().manual_seed(5), Randomization())
    other = randomize(batch(), torch.Generator().manual_seed(6), Randomization())
    assert torch.equal(first, second) and not torch.equal(first, other)
    assert first.min() >= 0.0 and first.max() <= 1.0 and first.shape == batch().shape


def test_everything_off_is_the_identity() -> None:
    assert torch.allclose(randomize(batch(), torch.Generator().manual_seed(0), OFF), batch(), atol=1e-6)


def test_grey_tiles_have_equal_bands() -> None:
    from dataclasses import replace

    out = randomize(batch(), torch.Generator().manual_seed(0), replace(OFF, p_gray=1.0))
    assert torch.allclose(out[:, 0], out[:, 1], atol=1e-6) and torch.allclose(out[:, 1], out[:, 2], atol=1e-6)


def test_blur_keeps_constants_and_spreads_a_line() -> None:
    flat = torch.full((1, 1, 16, 16), 0.3)
    assert torch.allclose(gaussian_blur(flat, 1.0), flat, atol=1e-6)
    line = torch.zeros(1, 1, 16, 16)
    line[..., 8, :] = 1.0
    blurred = gaussian_blur(line, 1.0)
    assert blurred[..., 8, :].max() < 0.5 and blurred[..., 7, :].min() > 0.1
    assert torch.allclose(blurred.sum(dim=-2), line.sum(dim=-2), atol=1e-5)  # no light lost away from borders


def test_zoom_by_one_is_the_identity_and_zoom_in_widens_a_line() -> None:
    images = batch(2)
    assert torch.allclose(zoom(images, torch.ones(2)), images, atol=1e-5)
    line = torch.zeros(1, 1, 32, 32)
    line[..., 14:18, :] = 1.0
    assert zoom(line, torch.tensor([1.5])).sum() > 1.4 * line.sum()
