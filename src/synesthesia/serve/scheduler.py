"""A bounded queue in front of the model, batching requests that want the same call.

Requests wait in arrival order. One worker takes the oldest, waits until it is
``window`` seconds old so others can join it, then takes every waiting request with the same
batching key (up to ``max_rows`` outputs) and makes one call for all of them in a worker thread.
While a call runs, new requests pile up, so batches grow with the load by themselves.

A request that is not ``batchable`` (or any request when batching is off) runs alone. A full
queue refuses new requests at once (:class:`QueueFull`, the server answers 503); a request that
waits or runs longer than ``timeout`` seconds gets :class:`asyncio.TimeoutError` and is dropped
from the queue if it has not started.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any


class QueueFull(Exception):
    """The queue holds its maximum of waiting requests; ``retry_after`` estimates seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the server is busy; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass
class Job:
    """One request waiting for a call."""

    key: Hashable | None              # what the run function is called with
    item: Any                         # what the run function gets for this request
    rows: int                         # outputs it asks for (counts against max_rows)
    batchable: bool = True            # may share a call with other jobs of the same key
    run: Callable | None = None       # a call of its own (for requests that are not generation)
    future: asyncio.Future = field(default=None)    # type: ignore[assignment]
    arrived: float = field(default_factory=time.monotonic)


class Batcher:
    """``await batcher.submit(job)`` -> the job's result, computed in batches by one worker.

    ``run_batch(key, items) -> results`` makes one call for several jobs with the same key and
    returns one result or exception per item, in order.
    """

    def __init__(self, run_batch: Callable[[Hashable, list], Sequence[Any]], queue_size: int = 64,
                 window: float = 0.005, max_rows: int = 256, timeout: float = 60.0,
                 batching: bool = True) -> None:
        self.run_batch = run_batch
        self.queue_size, self.window, self.max_rows = queue_size, window, max_rows
        self.timeout, self.batching = timeout, batching
        self.waiting: collections.deque[Job] = collections.deque()
        self.stats = {"calls": 0, "jobs": 0, "largest_batch": 0, "refused": 0, "timed_out": 0}
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="synesthesia-model")
        self._call_seconds = 1.0          # running mean, for Retry-After

    # -- submitting --------------------------------------------------------------------------
    async def submit(self, job: Job) -> Any:
        loop = asyncio.get_running_loop()
        self._start(loop)
        if len(self.waiting) >= self.queue_size:
            self.stats["refused"] += 1
            raise QueueFull(max(1, round(self._call_seconds * len(self.waiting) / max(1, self.stats["largest_batch"]))))
        job.future = loop.create_future()
        job.batchable = job.batchable and self.batching and job.run is None
        self.waiting.append(job)
        self._wakeup.set()
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), self.timeout)
        except asyncio.TimeoutError:
            self.stats["timed_out"] += 1
            if job in self.waiting:
                self.waiting.remove(job)
            job.future.cancel()              # a call already running drops its result
            raise

    async def call(self, fn: Callable[[], Any], rows: int = 1) -> Any:
        """Run ``fn()`` alone, in turn with the batches, under the same queue and timeout."""
        return await self.submit(Job(None, None, rows, batchable=False, run=fn))

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._wakeup = asyncio.Event()
            self._worker = loop.create_task(self._work(), name="synesthesia-batcher")

    # -- working -----------------------------------------------------------------------------
    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.waiting:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            first = self.waiting[0]
            wait = first.arrived + self.window - time.monotonic()
            if first.batchable and wait > 0:
                await asyncio.sleep(wait)
            batch = self._take()
            if batch:
                await self._run(loop, batch)

    def _take(self) -> list[Job]:
        """The oldest waiting job and every later one with its key, up to ``max_rows``."""
        first = self.waiting.popleft() if self.waiting else None
        if first is None or first.future.done():
            return []
        batch, rows = [first], first.rows
        if first.batchable:
            for job in list(self.waiting):
                if job.batchable and job.key == first.key and rows + job.rows <= self.max_rows and not job.future.done():
                    self.waiting.remove(job)
                    batch.append(job)
                    rows += job.rows
        return batch

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[Job]) -> None:
        start = time.monotonic()
        try:
            if batch[0].run is not None:
                results: Sequence[Any] = [await loop.run_in_executor(self._pool, _capture(batch[0].run))]
            else:
                results = await loop.run_in_executor(self._pool, self.run_batch, batch[0].key,
                                                     [j.item for j in batch])
        except Exception as err:
            results = [err] * len(batch)
        elapsed = time.monotonic() - start
        self._call_seconds = 0.8 * self._call_seconds + 0.2 * elapsed
        self.stats["calls"] += 1
        self.stats["jobs"] += len(batch)
        self.stats["largest_batch"] = max(self.stats["largest_batch"], len(batch))
        for job, result in zip(batch, results):
            if job.future.done():
                continue
            if isinstance(result, BaseException):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _capture(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` with its exception returned instead of raised (so it reaches its own request)."""
    def run():
        try:
            return fn()
        except Exception as err:
            return err
    return run
