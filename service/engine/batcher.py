"""Dynamic batching: items from every connection grouped into device batches (one queue per model version).

A batch is flushed when ``max_batch_size`` items wait or when the oldest has waited ``max_wait_ms``
(as Ray Serve's ``batch_wait_timeout_s``). Each item has its own future, resolved by position from the
handler's results; a failing batch fails only its own items. The queue is bounded (``Overloaded`` at once,
with a Retry-After estimate), items carry an absolute ``time.monotonic()`` deadline, and a waiter that goes
away (client disconnect, deadline) takes its items out of the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from service.errors import DeadlineExceeded, InferenceFailed, InvalidParameter, NotReady, Overloaded

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class BatchObserver(Protocol):
    """What the queue reports (``observability.metrics.ModelMetrics`` implements it)."""

    def queue_depth(self, depth: int) -> None: ...
    def rejected(self, reason: str, items: int) -> None: ...
    def expired(self, items: int) -> None: ...


class _NoObserver:
    def queue_depth(self, depth: int) -> None:
        pass

    def rejected(self, reason: str, items: int) -> None:
        pass

    def expired(self, items: int) -> None:
        pass


class SummedDepth:
    """Several queues reporting to one observer (one model's predict and explanation queues): the depth it sees
    is their sum, not whichever queue spoke last."""

    def __init__(self, observer: BatchObserver) -> None:
        self._observer = observer
        self._depths: dict[str, int] = {}

    def part(self, name: str) -> BatchObserver:
        """The observer to give the queue called ``name``."""
        self._depths[name] = 0
        return _DepthPart(self, name)

    def report(self, name: str, depth: int) -> None:
        """Queue ``name`` now holds ``depth`` items."""
        self._depths[name] = depth
        self._observer.queue_depth(sum(self._depths.values()))

    @property
    def observer(self) -> BatchObserver:
        """The observer the parts forward to."""
        return self._observer


@dataclass(frozen=True)
class _DepthPart:
    group: SummedDepth
    name: str

    def queue_depth(self, depth: int) -> None:
        self.group.report(self.name, depth)

    def rejected(self, reason: str, items: int) -> None:
        self.group.observer.rejected(reason, items)

    def expired(self, items: int) -> None:
        self.group.observer.expired(items)


@dataclass(eq=False)
class _Item(Generic[T, R]):
    payload: T
    future: asyncio.Future[R]
    enqueued: float
    deadline: float | None
    taken: bool = False  # left the queue (into a batch, or skipped)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("the batch loop ended with an error", exc_info=task.exception())


class Batcher(Generic[T, R]):
    """Batches ``submit``ted payloads for ``handler(payloads) -> results`` (same length, same order).

    ``max_queue`` bounds the items waiting (0: unbounded). Call ``start()`` inside the event loop, ``stop()``
    to drain and end.
    """

    def __init__(
        self,
        handler: Callable[[list[T]], Awaitable[list[R]]],
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int = 0,
        observer: BatchObserver | None = None,
        on_full: Callable[[bool], None] | None = None,
    ) -> None:
        if max_batch_size < 1 or max_wait_ms < 0 or max_queue < 0:
            raise ValueError("need max_batch_size >= 1, max_wait_ms >= 0, max_queue >= 0")
        self._handler = handler
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self._max_wait = max_wait_ms / 1000.0
        self._observer: BatchObserver = observer or _NoObserver()
        self._on_full = on_full
        self._full = False
        self._queue: deque[_Item[T, R]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._batch_seconds = 0.0  # moving average, for Retry-After

    @property
    def depth(self) -> int:
        """Items waiting (not yet in a batch)."""
        return len(self._queue)

    @property
    def full(self) -> bool:
        """True while the queue is bounded and holds ``max_queue`` items: a new item would be refused."""
        return self._full

    def overloaded(self) -> Overloaded:
        """The refusal a new item gets while the queue is full (429, with when to retry)."""
        self._observer.rejected("queue_full", 1)
        return self._refusal(1)

    def start(self) -> None:
        """Start the batch loop on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="roadlens-batcher")
            self._task.add_done_callback(_log_crash)

    async def stop(self) -> None:
        """Refuse new items (``NotReady``), run every queued one, then end the loop."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def submit(self, payloads: Sequence[T], deadline: float | None = None) -> list[R]:
        """Queue ``payloads`` together and wait for their results, in order.

        Raises ``NotReady`` (stopped), ``Overloaded`` (queue full), ``DeadlineExceeded`` (``deadline`` passed
        before the results came), ``InferenceFailed`` (their batch failed).
        """
        if self._stopping or self._task is None or self._task.done():
            raise NotReady("the batch queue is not running")
        if not payloads:
            return []
        now = time.monotonic()
        if deadline is not None and deadline <= now:
            self._observer.expired(len(payloads))
            raise DeadlineExceeded("the request's deadline passed before it was queued")
        self._admit(len(payloads))
        loop = asyncio.get_running_loop()
        items = [_Item(p, loop.create_future(), now, deadline) for p in payloads]
        self._queue.extend(items)
        self._depth_changed()
        self._wakeup.set()
        try:
            return await self._wait(items, deadline)
        except DeadlineExceeded:
            self._observer.expired(len(items))
            raise
        finally:
            self._release(items)

    def _admit(self, n: int) -> None:
        if not self.max_queue or len(self._queue) + n <= self.max_queue:
            return
        if n > self.max_queue:
            raise InvalidParameter(
                f"{n} images in one request exceed the queue's capacity of {self.max_queue}",
                detail={"items": n, "max_queue": self.max_queue},
            )
        self._observer.rejected("queue_full", n)
        raise self._refusal(n)

    def retry_after(self, n: int = 1) -> int:
        """Seconds until ``n`` more items could be taken: the batches ahead of them at the recent batch time."""
        batches_ahead = math.ceil((len(self._queue) + n) / self.max_batch_size)
        return max(1, math.ceil(batches_ahead * self._batch_seconds))

    def _refusal(self, n: int) -> Overloaded:
        retry_after = self.retry_after(n)
        return Overloaded(
            f"the queue is full ({len(self._queue)} of {self.max_queue} items waiting); retry in {retry_after} s",
            retry_after=retry_after,
            detail={"queue_depth": len(self._queue), "max_queue": self.max_queue},
        )

    def _depth_changed(self) -> None:
        self._observer.queue_depth(len(self._queue))
        full = bool(self.max_queue) and len(self._queue) >= self.max_queue
        if full != self._full:
            self._full = full
            if self._on_full is not None:
                self._on_full(full)

    async def _wait(self, items: list[_Item[T, R]], deadline: float | None) -> list[R]:
        gathered = asyncio.gather(*(item.future for item in items))
        # When the items are cancelled after their waiter left (client gone, deadline), the gathering future ends
        # with that CancelledError and nobody reads it: asyncio would log "exception was never retrieved" for
        # every such request. The items' own outcomes are handled in ``_release``.
        gathered.add_done_callback(_retrieve)
        if deadline is None:
            return list(await gathered)
        try:
            return list(await asyncio.wait_for(gathered, deadline - time.monotonic()))
        except TimeoutError:
            raise DeadlineExceeded("the request's deadline passed while it was queued or computed") from None

    def _release(self, items: list[_Item[T, R]]) -> None:
        """Leave nothing behind: cancel unfinished futures, drop them from the queue, retrieve exceptions."""
        for item in items:
            if not item.future.done():
                item.future.cancel()
            elif not item.future.cancelled():
                item.future.exception()  # marks it retrieved: no "exception never retrieved" log
        if not all(item.taken for item in items):
            self._queue = deque(item for item in self._queue if not item.future.done())
            self._depth_changed()

    async def _run(self) -> None:
        while not (self._stopping and not self._queue):
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._wait_for_fill()
            batch = self._take()
            if batch:
                await self._process(batch)

    async def _wait_for_fill(self) -> None:
        while self._queue and len(self._queue) < self.max_batch_size and not self._stopping:
            remaining = self._queue[0].enqueued + self._max_wait - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)

    def _take(self) -> list[_Item[T, R]]:
        now, batch = time.monotonic(), list[_Item[T, R]]()
        while self._queue and len(batch) < self.max_batch_size:
            item = self._queue.popleft()
            item.taken = True
            if item.future.done():
                continue  # its waiter is gone
            if item.deadline is not None and item.deadline <= now:
                item.future.set_exception(DeadlineExceeded("the request's deadline passed while it was queued"))
                continue
            batch.append(item)
        self._depth_changed()
        return batch

    async def _process(self, batch: list[_Item[T, R]]) -> None:
        started = time.monotonic()
        try:
            results = await self._handler([item.payload for item in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"the handler returned {len(results)} results for {len(batch)} items")
        except Exception:
            if all(item.future.done() for item in batch):  # nobody waits: a batch stopped early, not a failure
                logger.info("a batch of %d items was stopped: every request in it was given up", len(batch))
                return
            logger.exception("a batch of %d items failed", len(batch))
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(InferenceFailed("the device batch failed"))
            return
        finally:
            elapsed = time.monotonic() - started
            self._batch_seconds = elapsed if not self._batch_seconds else 0.8 * self._batch_seconds + 0.2 * elapsed
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a finished future's exception as seen."""
    if not future.cancelled():
        future.exception()
