"""The batch queue: flushing, matching results, failures, overload, deadlines, cancellation, shutdown."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from service.engine.batcher import Batcher
from service.errors import DeadlineExceeded, InferenceFailed, InvalidParameter, NotReady, Overloaded

pytestmark = pytest.mark.asyncio


class Recorder:
    """A handler that records its batches, can be held on a gate, and fails on the payload "boom"."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.delay = delay

    async def __call__(self, payloads: list[str]) -> list[str]:
        self.batches.append(list(payloads))
        await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if "boom" in payloads:
            raise RuntimeError("device fault")
        return [p.upper() for p in payloads]

    @property
    def seen(self) -> list[str]:
        return [p for batch in self.batches for p in batch]


class Observer:
    def __init__(self) -> None:
        self.depths: list[int] = []
        self.rejections: list[tuple[str, int]] = []
        self.expirations: list[int] = []

    def queue_depth(self, depth: int) -> None:
        self.depths.append(depth)

    def rejected(self, reason: str, items: int) -> None:
        self.rejections.append((reason, items))

    def expired(self, items: int) -> None:
        self.expirations.append(items)


MakeBatcher = Callable[..., Awaitable[Batcher[str, str]]]


@pytest_asyncio.fixture
async def make() -> AsyncIterator[MakeBatcher]:
    started: list[Batcher[str, str]] = []

    async def factory(handler: Callable[[list[str]], Awaitable[list[str]]], **options: object) -> Batcher[str, str]:
        settings: dict[str, object] = {"max_batch_size": 4, "max_wait_ms": 5.0} | options
        batcher: Batcher[str, str] = Batcher(handler, **settings)  # type: ignore[arg-type]
        batcher.start()
        started.append(batcher)
        return batcher

    yield factory
    for batcher in started:
        await asyncio.wait_for(batcher.stop(), 5)


async def waiting_for(batcher: Batcher[str, str], depth: int) -> None:
    while batcher.depth != depth:
        await asyncio.sleep(0.001)


async def computing(recorder: Recorder, batches: int) -> None:
    while len(recorder.batches) < batches:
        await asyncio.sleep(0.001)


async def test_flushes_when_the_batch_is_full(make: MakeBatcher) -> None:
    recorder = Recorder()
    batcher = await make(recorder, max_batch_size=4, max_wait_ms=60_000)
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit([f"r{i}"]) for i in range(4))), 2)
    assert results == [["R0"], ["R1"], ["R2"], ["R3"]]
    assert recorder.batches == [["r0", "r1", "r2", "r3"]]


async def test_flushes_after_the_wait_counted_from_the_oldest_item(make: MakeBatcher) -> None:
    recorder = Recorder()
    batcher = await make(recorder, max_batch_size=100, max_wait_ms=300)
    t0 = time.monotonic()
    first = asyncio.create_task(batcher.submit(["a"]))
    await asyncio.sleep(0.1)
    t1 = time.monotonic()
    second = await batcher.submit(["b"])
    t2 = time.monotonic()
    assert await first == ["A"] and second == ["B"]
    assert recorder.batches == [["a", "b"]]
    assert t2 - t0 >= 0.29  # nothing flushed before the oldest item's wait was over
    assert t2 - t1 < 0.29  # the younger item did not get a full wait of its own


async def test_results_match_requests_under_concurrency(make: MakeBatcher) -> None:
    recorder = Recorder(delay=0.001)
    batcher = await make(recorder, max_batch_size=8, max_wait_ms=1)

    async def client(c: int) -> None:
        for r in range(5):
            payloads = [f"c{c}-r{r}-i{i}" for i in range((c + r) % 3 + 1)]
            await asyncio.sleep(0.0005 * ((c * r) % 3))
            assert await batcher.submit(payloads) == [p.upper() for p in payloads]

    await asyncio.wait_for(asyncio.gather(*(client(c) for c in range(20))), 10)
    assert max(len(b) for b in recorder.batches) > 1  # requests from different clients did share batches
    assert all(len(b) <= 8 for b in recorder.batches)


async def test_a_failing_batch_fails_only_its_own_items(make: MakeBatcher) -> None:
    recorder = Recorder()
    recorder.gate.clear()
    batcher = await make(recorder, max_batch_size=2, max_wait_ms=1)
    boom = asyncio.create_task(batcher.submit(["boom"]))
    same_batch = asyncio.create_task(batcher.submit(["x"]))
    next_batch = asyncio.create_task(batcher.submit(["y"]))
    await waiting_for(batcher, 1)
    recorder.gate.set()
    for task in (boom, same_batch):
        with pytest.raises(InferenceFailed):
            await task
    assert await next_batch == ["Y"]
    assert await batcher.submit(["z"]) == ["Z"]  # the loop keeps serving
    assert recorder.batches == [["boom", "x"], ["y"], ["z"]]


async def test_a_wrong_number_of_results_fails_the_batch(make: MakeBatcher) -> None:
    async def short(payloads: list[str]) -> list[str]:
        return payloads[1:]

    batcher = await make(short)
    with pytest.raises(InferenceFailed):
        await batcher.submit(["a", "b"])


async def test_refuses_at_once_when_the_queue_is_full(make: MakeBatcher) -> None:
    recorder, observer = Recorder(), Observer()
    recorder.gate.clear()
    batcher = await make(recorder, max_batch_size=1, max_wait_ms=0, max_queue=3, observer=observer)
    running = [asyncio.create_task(batcher.submit(["q0"]))]
    await computing(recorder, 1)
    running += [asyncio.create_task(batcher.submit([f"q{i}"])) for i in range(1, 4)]
    await waiting_for(batcher, 3)
    with pytest.raises(Overloaded) as refused:
        await asyncio.wait_for(batcher.submit(["late"]), 0.5)
    assert isinstance(refused.value.retry_after, int) and refused.value.retry_after >= 1
    assert refused.value.detail == {"queue_depth": 3, "max_queue": 3}
    assert observer.rejections == [("queue_full", 1)]
    with pytest.raises(InvalidParameter):  # can never fit: not worth a retry
        await batcher.submit(["a", "b", "c", "d"])
    recorder.gate.set()
    assert [await task for task in running] == [["Q0"], ["Q1"], ["Q2"], ["Q3"]]
    assert "late" not in recorder.seen


async def test_retry_after_grows_with_the_recent_batch_time(make: MakeBatcher) -> None:
    recorder = Recorder(delay=0.3)
    batcher = await make(recorder, max_batch_size=1, max_wait_ms=0, max_queue=4)
    await batcher.submit(["warm"])  # one 0.3 s batch measured
    recorder.gate.clear()
    recorder.delay = 0.0
    running = [asyncio.create_task(batcher.submit(["q0"]))]
    await computing(recorder, 2)
    running += [asyncio.create_task(batcher.submit([f"q{i}"])) for i in range(1, 5)]
    await waiting_for(batcher, 4)
    with pytest.raises(Overloaded) as refused:
        await batcher.submit(["late"])
    assert refused.value.retry_after == 2  # ceil(5 batches ahead x 0.3 s)
    recorder.gate.set()
    await asyncio.gather(*running)


async def test_an_expired_item_is_dropped_before_compute(make: MakeBatcher) -> None:
    recorder, observer = Recorder(), Observer()
    recorder.gate.clear()
    batcher = await make(recorder, max_batch_size=1, max_wait_ms=0, observer=observer)
    blocker = asyncio.create_task(batcher.submit(["first"]))
    await computing(recorder, 1)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await batcher.submit(["late"], deadline=time.monotonic() + 0.05)
    assert time.monotonic() - started < 0.5
    recorder.gate.set()
    assert await blocker == ["FIRST"]
    assert await batcher.submit(["after"]) == ["AFTER"]
    assert "late" not in recorder.seen
    assert observer.expirations == [1]


async def test_an_item_that_expired_while_the_loop_was_busy_is_not_computed(make: MakeBatcher) -> None:
    seen: list[str] = []

    async def blocking(payloads: list[str]) -> list[str]:
        seen.extend(payloads)
        time.sleep(0.15)  # holds the event loop: the waiter's own timeout cannot fire before the next batch
        return payloads

    batcher = await make(blocking, max_batch_size=1, max_wait_ms=0)
    first = asyncio.create_task(batcher.submit(["first"]))
    late = asyncio.create_task(batcher.submit(["late"], deadline=time.monotonic() + 0.05))
    assert await first == ["first"]
    with pytest.raises(DeadlineExceeded):
        await late
    assert seen == ["first"]


async def test_a_slow_batch_times_out_instead_of_hanging(make: MakeBatcher) -> None:
    recorder = Recorder(delay=0.6)
    batcher = await make(recorder, max_wait_ms=0)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await batcher.submit(["slow"], deadline=time.monotonic() + 0.05)
    assert time.monotonic() - started < 0.4


async def test_a_passed_deadline_is_refused_before_queueing(make: MakeBatcher) -> None:
    recorder = Recorder()
    batcher = await make(recorder)
    with pytest.raises(DeadlineExceeded):
        await batcher.submit(["old"], deadline=time.monotonic() - 1)
    assert batcher.depth == 0 and recorder.batches == []


async def test_a_cancelled_waiter_leaves_nothing_behind(make: MakeBatcher) -> None:
    recorder = Recorder()
    recorder.gate.clear()
    batcher = await make(recorder, max_batch_size=1, max_wait_ms=0)
    blocker = asyncio.create_task(batcher.submit(["first"]))
    await computing(recorder, 1)
    gone = asyncio.create_task(batcher.submit(["gone", "gone too"]))
    await waiting_for(batcher, 2)
    queued = list(batcher._queue)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert batcher.depth == 0
    assert all(item.future.cancelled() for item in queued)
    recorder.gate.set()
    assert await blocker == ["FIRST"]
    assert await batcher.submit(["next"]) == ["NEXT"]
    assert recorder.seen == ["first", "next"]


async def test_stop_drains_the_queue_and_refuses_new_items(make: MakeBatcher) -> None:
    recorder = Recorder()
    batcher = await make(recorder, max_batch_size=2, max_wait_ms=60_000)
    pending = [asyncio.create_task(batcher.submit([f"p{i}"])) for i in range(5)]
    await waiting_for(batcher, 1)  # two full batches started, one item left waiting for a long flush
    await asyncio.wait_for(batcher.stop(), 2)
    assert [await task for task in pending] == [["P0"], ["P1"], ["P2"], ["P3"], ["P4"]]
    with pytest.raises(NotReady):
        await batcher.submit(["after"])


async def test_not_started_is_not_ready() -> None:
    batcher: Batcher[str, str] = Batcher(Recorder(), max_batch_size=1, max_wait_ms=0)
    with pytest.raises(NotReady):
        await batcher.submit(["x"])
    await asyncio.wait_for(batcher.stop(), 1)  # a queue that never started stops at once


@pytest.mark.parametrize("with_deadline", [False, True])
@pytest.mark.parametrize("taken", [False, True])
async def test_a_cancelled_waiter_leaves_no_unretrieved_error(
    make: MakeBatcher, with_deadline: bool, taken: bool
) -> None:
    # asyncio logs "exception was never retrieved" (a traceback per request) for a future whose error nobody read:
    # under load every client that hangs up would write one to the log.
    reported: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: reported.append(context))
    recorder = Recorder()
    recorder.gate.clear()
    batcher = await make(recorder, max_batch_size=2, max_wait_ms=0)
    if not taken:
        blocker = asyncio.create_task(batcher.submit(["first"]))
        await computing(recorder, 1)
    deadline = time.monotonic() + 30 if with_deadline else None
    gone = asyncio.create_task(batcher.submit(["gone", "gone too"], deadline=deadline))
    await (computing(recorder, 1) if taken else waiting_for(batcher, 2))
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    recorder.gate.set()
    if not taken:
        assert await blocker == ["FIRST"]
    assert await batcher.submit(["next"]) == ["NEXT"]
    del gone
    gc.collect()
    await asyncio.sleep(0)
    assert not reported, reported
