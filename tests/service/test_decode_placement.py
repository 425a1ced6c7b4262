"""Where uploads are decoded: small requests on the event loop, larger ones in the thread pool, same results."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from service.errors import InvalidImage, PayloadTooLarge
from service.pipeline.decode import DecodedImage, Decoder, decode_image, header_pixels
from tests.service import images

SIZE = (96, 96)
LIMIT = 40_000_000


class CountingExecutor(ThreadPoolExecutor):
    """A thread pool that counts the jobs it was given."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.jobs = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.jobs += 1
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def executor() -> Iterator[CountingExecutor]:
    pool = CountingExecutor()
    yield pool
    pool.shutdown()


def tile_png(width: int, height: int, seed: int = 0) -> bytes:
    return images.png(images.tile(seed, size=(width, height)))


def test_header_pixels_reads_only_the_header() -> None:
    assert header_pixels(tile_png(160, 120)) == 19_200
    assert header_pixels(tile_png(160, 120)[:64]) == 19_200  # the pixels themselves are not needed
    assert header_pixels(b"not an image") is None
    assert header_pixels(b"") is None


@pytest.mark.parametrize(
    ("sizes", "inline"),
    [
        ([(96, 96)], True),
        ([(128, 128)], True),
        ([(136, 136)], False),  # 18,496 pixels: just over
        ([(96, 96), (96, 96)], True),  # 18,432 in all: exactly the limit
        ([(96, 96), (96, 96), (8, 8)], False),  # the request's total decides, not each image
    ],
)
def test_the_request_total_decides(executor: CountingExecutor, sizes: list[tuple[int, int]], inline: bool) -> None:
    decoder = Decoder(executor, LIMIT, inline_max_pixels=2 * 96 * 96)
    assert decoder.decodes_inline([tile_png(w, h) for w, h in sizes]) is inline


def test_zero_always_uses_the_threads(executor: CountingExecutor) -> None:
    assert Decoder(executor, LIMIT, inline_max_pixels=0).decodes_inline([tile_png(8, 8)]) is False


def test_unreadable_bytes_go_the_usual_way(executor: CountingExecutor) -> None:
    assert Decoder(executor, LIMIT, inline_max_pixels=10**9).decodes_inline([b"GIF89a..."]) is False


@pytest.fixture
def decoding_threads(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The names of the threads that ran ``decode_image`` during the test."""
    threads: set[str] = set()

    def recording(*args: Any, **kwargs: Any) -> DecodedImage:
        threads.add(threading.current_thread().name)
        return decode_image(*args, **kwargs)

    monkeypatch.setattr("service.pipeline.decode.decode_image", recording)
    return threads


def decode(decoder: Decoder, blobs: list[bytes]) -> list[DecodedImage]:
    return asyncio.run(decoder.decode_all(blobs, SIZE))


def test_inline_and_pooled_decodes_are_identical(executor: CountingExecutor, decoding_threads: set[str]) -> None:
    blobs = [tile_png(96, 96, seed=1), tile_png(100, 80, seed=2)]
    inline = decode(Decoder(executor, LIMIT, inline_max_pixels=128 * 128 * 2), blobs)
    assert executor.jobs == 0 and decoding_threads == {threading.current_thread().name}
    decoding_threads.clear()
    pooled = decode(Decoder(executor, LIMIT, inline_max_pixels=0), blobs)
    assert executor.jobs == 2 and threading.current_thread().name not in decoding_threads
    for a, b in zip(inline, pooled, strict=True):
        np.testing.assert_array_equal(a.array, b.array)
        assert (a.size, a.format) == (b.size, b.format)


def test_inline_errors_name_the_image(executor: CountingExecutor) -> None:
    good, truncated = tile_png(96, 96), tile_png(96, 96, seed=3)[:200]  # header intact, pixels cut off
    decoder = Decoder(executor, LIMIT, inline_max_pixels=128 * 128 * 2)
    assert decoder.decodes_inline([good, truncated])
    with pytest.raises(InvalidImage) as caught:
        decode(decoder, [good, truncated])
    assert caught.value.detail["index"] == 1 and executor.jobs == 0


def test_the_pixel_limit_still_applies_inline(executor: CountingExecutor) -> None:
    decoder = Decoder(executor, max_pixels=5_000, inline_max_pixels=128 * 128)
    assert decoder.decodes_inline([tile_png(96, 96)])
    with pytest.raises(PayloadTooLarge) as caught:
        decode(decoder, [tile_png(96, 96)])
    assert caught.value.detail["limit_pixels"] == 5_000 and executor.jobs == 0
