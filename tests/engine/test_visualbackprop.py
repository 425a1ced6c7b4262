"""VisualBackProp against hand-computed masks and a slow, plain reference implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from service.engine.types import BlockGeometry, VBPOptions
from service.explain.common import minmax_normalize, ones_deconv, output_padding, overlap_count, spread_matrix
from service.explain.visualbackprop import visualbackprop


def block(name: str, k: int, s: int, p: int, out: int, c_in: int = 1, c_out: int = 1) -> BlockGeometry:
    return BlockGeometry(name, (k, k), (s, s), (p, p), c_in, c_out, (out, out))


# The brief's network at 96 x 96: 1x1/s1 -> 96, then three 3x3/s2/p1 -> 48, 24, 12.
REAL_BLOCKS = (
    block("block0", 1, 1, 0, 96, 3, 8),
    block("block1", 3, 2, 1, 48, 8, 32),
    block("block2", 3, 2, 1, 24, 32, 32),
    block("block3", 3, 2, 1, 12, 32, 64),
)


def reference_ones_deconv(m: np.ndarray, geometry: BlockGeometry, size_in: tuple[int, int]) -> np.ndarray:
    """Every input pixel adds its value to each output pixel its kernel window covers (plain loops)."""
    (kh, kw), (sh, sw), (ph, pw) = geometry.kernel, geometry.stride, geometry.padding
    out = np.zeros(size_in, dtype=np.float64)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            for di in range(kh):
                for dj in range(kw):
                    r, c = i * sh - ph + di, j * sw - pw + dj
                    if 0 <= r < size_in[0] and 0 <= c < size_in[1]:
                        out[r, c] += m[i, j]
    return out


def reference_vbp(maps: list[np.ndarray], blocks: tuple[BlockGeometry, ...], overlap: bool) -> np.ndarray:
    """The paper's algorithm for one image, in float64 with explicit loops."""
    averaged = [a.astype(np.float64).mean(axis=0) for a in maps]
    sizes_in = [(96, 96), *(b.output_size for b in blocks[:-1])]
    mask = averaged[-1]
    for i in reversed(range(len(blocks))):
        if i < len(blocks) - 1:
            mask = averaged[i] * mask
        up = reference_ones_deconv(mask, blocks[i], sizes_in[i])
        if overlap:
            up = up / np.maximum(reference_ones_deconv(np.ones_like(mask), blocks[i], sizes_in[i]), 1.0)
        mask = up
    low, high = mask.min(), mask.max()
    return (mask - low) / (high - low)


def random_maps(n: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.relu(torch.randn(n, b.out_channels, *b.output_size, generator=g)) for b in REAL_BLOCKS]


def run(maps: list[torch.Tensor], blocks: tuple[BlockGeometry, ...], size: int, **options: bool) -> np.ndarray:
    masks, _ = visualbackprop(maps, blocks, (size, size), VBPOptions(**options))
    return masks.numpy()


@pytest.mark.parametrize("overlap", [False, True])
def test_matches_the_plain_reference_on_the_real_geometry(overlap: bool) -> None:
    maps = random_maps(2, seed=0)
    masks = run(maps, REAL_BLOCKS, 96, normalize_overlap=overlap)
    assert masks.shape == (2, 96, 96) and masks.dtype == np.float32
    for n in range(2):
        expected = reference_vbp([m[n].numpy() for m in maps], REAL_BLOCKS, overlap)
        np.testing.assert_allclose(masks[n], expected, atol=1e-5)


def test_one_block_by_hand() -> None:
    # Channels average to a = [[1, 2], [3, 4]]. The 3x3/s2/p1 ones-deconv to 4x4 (output_padding 1) sends
    # row/column i of a to output rows {2i-1, 2i, 2i+1}, so output row r sums a's rows R(r):
    # R(0) = {0}, R(1) = {0, 1}, R(2) = R(3) = {1}; same for columns. That gives
    #   [[1, 3, 2, 2], [4, 10, 6, 6], [3, 7, 4, 4], [3, 7, 4, 4]], min 1, max 10 -> (x - 1) / 9.
    channels = torch.tensor([[[0.0, 2.0], [4.0, 6.0]], [[2.0, 2.0], [2.0, 2.0]]]).unsqueeze(0)
    raw = np.array([[1, 3, 2, 2], [4, 10, 6, 6], [3, 7, 4, 4], [3, 7, 4, 4]], dtype=np.float64)
    mask = run([channels], (block("b", 3, 2, 1, 2),), 4)[0]
    np.testing.assert_allclose(mask, (raw - 1) / 9, atol=1e-6)


def test_one_block_by_hand_with_overlap_normalisation() -> None:
    # Overlap counts are |R(r)| * |R(c)| with |R| = [1, 2, 1, 1]: [[1, 2, 1, 1], [2, 4, 2, 2], [1, 2, 1, 1], ...].
    # raw / count = [[1, 1.5, 2, 2], [2, 2.5, 3, 3], [3, 3.5, 4, 4], [3, 3.5, 4, 4]], min 1, max 4 -> (x - 1) / 3.
    a = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    divided = np.array([[1, 1.5, 2, 2], [2, 2.5, 3, 3], [3, 3.5, 4, 4], [3, 3.5, 4, 4]], dtype=np.float64)
    mask = run([a], (block("b", 3, 2, 1, 2),), 4, normalize_overlap=True)[0]
    np.testing.assert_allclose(mask, (divided - 1) / 3, atol=1e-6)


def test_two_blocks_by_hand_with_layers() -> None:
    # Deepest a1 = [[1, 2], [3, 4]] upsamples (3x3/s2/p1) to the 4x4 map of the one-block case; times
    # a0 = diag(1, 1, 1, 2) keeps the diagonal 1, 10, 4, 8; the 1x1/s1 block-0 deconv is the identity; / 10.
    a1 = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    a0 = torch.diag(torch.tensor([1.0, 1.0, 1.0, 2.0])).view(1, 1, 4, 4)
    blocks = (block("b0", 1, 1, 0, 4), block("b1", 3, 2, 1, 2))
    masks, layers = visualbackprop([a0, a1], blocks, (4, 4), VBPOptions(keep_layers=True))
    np.testing.assert_allclose(masks[0].numpy(), np.diag([0.1, 1.0, 0.4, 0.8]), atol=1e-6)
    deepest, shallowest = layers[0]
    assert (deepest.name, shallowest.name) == ("b1", "b0")
    np.testing.assert_allclose(deepest.averaged, [[0, 1 / 3], [2 / 3, 1]], atol=1e-6)
    np.testing.assert_allclose(deepest.mask, [[0, 1 / 3], [2 / 3, 1]], atol=1e-6)
    np.testing.assert_allclose(shallowest.averaged, np.diag([0.5, 0.5, 0.5, 1.0]), atol=1e-6)
    np.testing.assert_allclose(shallowest.mask, np.diag([0.1, 1.0, 0.4, 0.8]), atol=1e-6)
    assert deepest.mask.dtype == np.float32


def test_two_blocks_without_overlap_by_hand() -> None:
    # 2x2/s2/p0 copies each deep pixel onto its own 2x2 square (no overlap, output_padding 0):
    # a1 = [[1, 2], [0, 3]] -> [[1, 1, 2, 2], [1, 1, 2, 2], [0, 0, 3, 3], [0, 0, 3, 3]], times a0 pointwise
    # -> [[1, 1, 4, 0], [1, 1, 4, 4], [0, 0, 3, 3], [0, 0, 3, 6]]; min 0, max 6 -> x / 6.
    a1 = torch.tensor([[[[1.0, 2.0], [0.0, 3.0]]]])
    a0 = torch.tensor([[[[1.0, 1, 2, 0], [1, 1, 2, 2], [0, 5, 1, 1], [1, 0, 1, 2]]]])
    product = np.array([[1, 1, 4, 0], [1, 1, 4, 4], [0, 0, 3, 3], [0, 0, 3, 6]], dtype=np.float64)
    mask = run([a0, a1], (block("b0", 1, 1, 0, 4), block("b1", 2, 2, 0, 2)), 4)[0]
    np.testing.assert_allclose(mask, product / 6, atol=1e-6)


@pytest.mark.parametrize(("k", "p", "values"), [(3, 1, {1, 2, 4}), (5, 2, {4, 6, 9})])
def test_overlap_counts_are_periodic(k: int, p: int, values: set[int]) -> None:
    count = overlap_count(block("b", k, 2, p, 24), (24, 24), (48, 48))[0].numpy()
    interior = count[4:-4, 4:-4]
    assert set(np.unique(interior).astype(int)) == values
    np.testing.assert_array_equal(interior, np.roll(interior, 2, axis=0))  # period 2 in both directions
    np.testing.assert_array_equal(interior, np.roll(interior, 2, axis=1))
    assert interior[0, 0] != interior[1, 1]


def test_ones_deconv_lands_on_the_input_size_and_matches_the_reference() -> None:
    g = torch.Generator().manual_seed(3)
    for size_in in (95, 96, 97):
        geometry = block("b", 3, 2, 1, (size_in + 2 - 3) // 2 + 1)
        m = torch.rand(1, *geometry.output_size, generator=g)
        up = ones_deconv(m, geometry, (size_in, size_in))
        expected = reference_ones_deconv(m[0].double().numpy(), geometry, (size_in, size_in))
        np.testing.assert_allclose(up[0].numpy(), expected, atol=1e-5)
        assert output_padding(size_in, 3, 2, 1) == (size_in - 1) % 2


def test_overlap_normalisation_removes_the_pattern_on_a_constant_input() -> None:
    maps = [torch.full((1, b.out_channels, *b.output_size), 0.5) for b in REAL_BLOCKS]
    faithful = run(maps, REAL_BLOCKS, 96)
    assert len(np.unique(faithful)) > 2  # the grid texture of the upsampling, not of the input
    np.testing.assert_array_equal(faithful[0, 20:30:2, 20:30:2], faithful[0, 36:46:2, 36:46:2])  # periodic (8)
    assert np.all(run(maps, REAL_BLOCKS, 96, normalize_overlap=True) == 0.0)  # flat: nothing to show


@pytest.mark.parametrize("value", [0.0, 1.0, 123.0, 1e-30])
def test_constant_maps_normalise_to_zeros_not_nan(value: float) -> None:
    out = minmax_normalize(torch.full((2, 5, 7), value))
    assert torch.isfinite(out).all() and (out == 0).all()
    dead = [torch.zeros(1, b.out_channels, *b.output_size) for b in REAL_BLOCKS]  # every ReLU off
    assert np.all(run(dead, REAL_BLOCKS, 96) == 0.0)


def test_minmax_normalises_each_image_on_its_own() -> None:
    maps = torch.stack([torch.arange(6.0).view(2, 3), 10 * torch.arange(6.0).view(2, 3) - 7])
    out = minmax_normalize(maps)
    np.testing.assert_allclose(out[0].numpy(), out[1].numpy(), atol=1e-6)
    assert float(out.min()) == 0.0 and float(out.max()) == 1.0


@pytest.mark.parametrize("overlap", [False, True])
def test_batched_equals_one_by_one(overlap: bool) -> None:
    maps = random_maps(5, seed=1)
    batched, layers = visualbackprop(maps, REAL_BLOCKS, (96, 96), VBPOptions(overlap, keep_layers=True))
    for n in range(5):
        single, single_layers = visualbackprop(
            [m[n : n + 1] for m in maps], REAL_BLOCKS, (96, 96), VBPOptions(overlap, keep_layers=True)
        )
        np.testing.assert_allclose(batched[n].numpy(), single[0].numpy(), atol=1e-6)
        for got, want in zip(layers[n], single_layers[0], strict=True):
            np.testing.assert_allclose(got.mask, want.mask, atol=1e-6)
            np.testing.assert_allclose(got.averaged, want.averaged, atol=1e-6)


def test_layers_only_when_asked_and_geometry_checked() -> None:
    maps = random_maps(2, seed=2)
    _, layers = visualbackprop(maps, REAL_BLOCKS, (96, 96), VBPOptions())
    assert layers == [(), ()]
    _, layers = visualbackprop(maps, REAL_BLOCKS, (96, 96), VBPOptions(keep_layers=True))
    assert [layer.name for layer in layers[0]] == ["block3", "block2", "block1", "block0"]
    assert [layer.mask.shape for layer in layers[1]] == [(12, 12), (24, 24), (48, 48), (96, 96)]
    with pytest.raises(ValueError, match="inconsistent"):
        visualbackprop(maps, REAL_BLOCKS, (90, 90), VBPOptions())
    with pytest.raises(ValueError, match="feature maps"):
        visualbackprop(maps[:3], REAL_BLOCKS, (96, 96), VBPOptions())


def test_ones_deconv_reuses_its_matrices_and_still_gives_gradients_after_an_inference_call() -> None:
    geometry = block("b", 3, 2, 1, 24)
    with torch.inference_mode():
        ones_deconv(torch.rand(2, 24, 24), geometry, (48, 48))
    hits = spread_matrix.cache_info().hits
    maps = torch.rand(2, 24, 24, requires_grad=True)
    ones_deconv(maps, geometry, (48, 48)).sum().backward()  # would fail on matrices made in inference mode
    assert spread_matrix.cache_info().hits == hits + 2
    assert maps.grad is not None
    # Each deep pixel's gradient is the number of output pixels its 3x3 window covers: 9 inside, fewer on the
    # top and left edges, where the window hangs over the padding (the bottom and right edges reach 48 exactly).
    np.testing.assert_array_equal(maps.grad[0, 1:, 1:].numpy(), 9.0)
    assert maps.grad[0, 0, 0].item() == 4.0 and maps.grad[0, 0, 5].item() == 6.0
