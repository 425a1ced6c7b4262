"""Arrays -> response bytes: grayscale PNG masks, NPY/NPZ, base64 JSON arrays, feature grids and heat-map overlays.

Pure functions of numpy arrays and Pillow images; the HTTP edge runs them in the thread pool (a small plain
mask on the event loop, where the hop would cost more than writing it).
"""

from __future__ import annotations

import base64
import io
import math
import struct
import zlib
from typing import Any

import numpy as np
from isal import isal_zlib
from PIL import Image, ImageDraw

EPSILON = 1e-12
MIN_TILE = 48  # feature maps smaller than this are enlarged (nearest) so the grid stays readable
GAP = 2
TITLE_HEIGHT = 16
PNG_COMPRESSION = 1  # zlib level of Pillow-written PNGs (overlays, feature grids): on 96x96 masks level 1 was as
# small as level 3 and 20 % faster (0.49 vs 0.62 ms)


def min_max(array: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant array gives zeros rather than NaN."""
    low, high = float(array.min()), float(array.max())
    if high - low <= EPSILON:
        return np.zeros_like(array, dtype=np.float32)
    return ((array - low) / (high - low)).astype(np.float32)


def resize_map(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an H x W float map to ``size`` = (width, height) with bilinear interpolation, values kept in range."""
    if (array.shape[1], array.shape[0]) == size:
        return array.astype(np.float32, copy=False)
    resized = Image.fromarray(array.astype(np.float32)).resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), float(array.min()), float(array.max()))


def to_uint8(array: np.ndarray) -> np.ndarray:
    """[0, 1] floats to 0..255 bytes, rounded."""
    return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def png_bytes(image: Image.Image) -> bytes:
    """Any Pillow image as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESSION)
    return buffer.getvalue()


def mask_png(mask: np.ndarray) -> bytes:
    """A [0, 1] mask as an 8-bit grayscale PNG."""
    return gray_png(to_uint8(mask))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_FILTER_UP = 2  # each byte minus the byte above it: small numbers on smooth maps, which deflate packs well
# ISA-L's deflate, level 1 of 0-3. A 96 x 96 mask is written on the event loop (see api/visualbackprop.py), so its
# deflate time is time no other request is served. Measured on this 2-core CPU for a served mask (9.3 kB of filtered
# rows): zlib level 1 took 150-200 µs and gave 5,899 bytes; ISA-L level 1 took 42 µs and gave 5,804 bytes.
MASK_DEFLATE_LEVEL = 1


def gray_png(pixels: np.ndarray) -> bytes:
    """An H x W uint8 array as an 8-bit grayscale PNG (every row filtered with "Up", deflated by ISA-L).

    Written directly rather than through Pillow, whose encoder tries every row filter with zlib: on a 96 x 96
    mask this takes about 0.07 ms instead of 0.5 ms, for a file of about the same size. The zlib stream is
    standard deflate: any PNG reader opens it.
    """
    if pixels.ndim != 2 or pixels.dtype != np.uint8 or 0 in pixels.shape:
        raise ValueError(f"need a non-empty H x W uint8 array, got {pixels.dtype} {pixels.shape}")
    return _filtered_png(pixels, PNG_GRAYSCALE)


def rgb_png(pixels: np.ndarray) -> bytes:
    """An H x W x 3 uint8 array as an 8-bit RGB PNG, written like ``gray_png``.

    Overlays at an upload's size are large: a 3000 x 3000 one took Pillow's encoder 2 s, and this about 0.3 s.
    """
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8 or 0 in pixels.shape:
        raise ValueError(f"need a non-empty H x W x 3 uint8 array, got {pixels.dtype} {pixels.shape}")
    return _filtered_png(pixels, PNG_RGB)


PNG_GRAYSCALE = 0  # PNG colour types
PNG_RGB = 2


def _filtered_png(pixels: np.ndarray, colour_type: int) -> bytes:
    height, width = pixels.shape[:2]
    samples = np.ascontiguousarray(pixels).reshape(height, -1)  # "Up" works byte by byte, whatever the channels
    rows = np.empty((height, samples.shape[1] + 1), dtype=np.uint8)
    rows[:, 0] = PNG_FILTER_UP
    rows[0, 1:] = samples[0]  # the first row's "above" is zeros
    np.subtract(samples[1:], samples[:-1], out=rows[1:, 1:])  # uint8 wraps around: PNG's modulo-256 arithmetic
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)  # 8-bit, deflate, no interlace
    data = isal_zlib.compress(rows.tobytes(), MASK_DEFLATE_LEVEL)
    return PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def npy_bytes(array: np.ndarray) -> bytes:
    """One array in NumPy's .npy format, float32 little-endian."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype="<f4"), allow_pickle=False)
    return buffer.getvalue()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Named arrays in NumPy's .npz format (compressed: post-ReLU maps are mostly zeros), float32."""
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, allow_pickle=False, **{k: np.ascontiguousarray(v, dtype="<f4") for k, v in arrays.items()}
    )
    return buffer.getvalue()


def array_json(array: np.ndarray) -> dict[str, Any]:
    """``{"shape", "dtype", "data"}``: C-order little-endian float32 bytes in standard base64."""
    values = np.ascontiguousarray(array, dtype="<f4")
    return {"shape": list(values.shape), "dtype": "float32", "data": base64.b64encode(values.tobytes()).decode("ascii")}


def jet_lut() -> np.ndarray:
    """The jet colour map (blue -> cyan -> yellow -> red) as a 256 x 3 byte table."""
    v = np.linspace(0.0, 1.0, 256, dtype=np.float32)[:, None]
    centres = np.array([3.0, 2.0, 1.0], dtype=np.float32)  # red, green, blue ramps peak at 3/4, 1/2, 1/4
    return to_uint8(np.clip(1.5 - np.abs(4.0 * v - centres), 0.0, 1.0))


JET = jet_lut()
JET_PALETTE = JET.tobytes()


def overlay_png(base: Image.Image, mask: np.ndarray) -> bytes:
    """The mask as a jet heat map blended half and half over ``base``, which must have the mask's size.

    Pillow's C loops do the colour map (a palette) and the blend: at an upload's size the numpy equivalents
    (a fancy-indexed table, uint16 sums) took most of a second for 9 M pixels.
    """
    heat = Image.fromarray(to_uint8(mask))
    heat.putpalette(JET_PALETTE)
    rgb = base if base.mode == "RGB" else base.convert("RGB")
    return rgb_png(np.asarray(Image.blend(rgb, heat.convert("RGB"), 0.5)))


def model_input_image(array: np.ndarray) -> Image.Image:
    """The decoded model input (3 x H x W, uint8 or float in [0, 1]) as an 8-bit RGB picture."""
    pixels = array.transpose(1, 2, 0)
    return Image.fromarray(np.ascontiguousarray(pixels) if pixels.dtype == np.uint8 else to_uint8(pixels))


def _layer_grid(maps: np.ndarray) -> np.ndarray:
    """C x H x W maps as one 8-bit grid, each channel min-max scaled on its own, on a dark background."""
    channels, height, width = maps.shape
    scale = max(1, math.ceil(MIN_TILE / max(height, width)))
    tile_h, tile_w = height * scale, width * scale
    cols = math.ceil(math.sqrt(channels))
    rows = math.ceil(channels / cols)
    grid = np.full((rows * (tile_h + GAP) + GAP, cols * (tile_w + GAP) + GAP), 40, dtype=np.uint8)
    for c in range(channels):
        tile = np.kron(to_uint8(min_max(maps[c])), np.ones((scale, scale), dtype=np.uint8))
        top, left = GAP + (c // cols) * (tile_h + GAP), GAP + (c % cols) * (tile_w + GAP)
        grid[top : top + tile_h, left : left + tile_w] = tile
    return grid


def feature_grid_png(features: dict[str, np.ndarray]) -> bytes:
    """One grayscale PNG: for each layer, its name and shape drawn above a grid of its channels."""
    panels = [(name, maps.shape, _layer_grid(maps)) for name, maps in features.items()]
    width = max(grid.shape[1] for _, _, grid in panels)
    height = sum(grid.shape[0] + TITLE_HEIGHT for _, _, grid in panels)
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    top = 0
    for name, shape, grid in panels:
        draw.text((GAP + 2, top + 2), f"{name}  {shape[0]}x{shape[1]}x{shape[2]}", fill=255)
        canvas.paste(Image.fromarray(grid), (0, top + TITLE_HEIGHT))
        top += TITLE_HEIGHT + grid.shape[0]
    return png_bytes(canvas)
