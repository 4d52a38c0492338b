"""Micro-batching of a synchronous step into one worker thread.

Messages of a window are submitted one by one (each from its own task); whatever has been submitted while the
worker thread was busy runs next, as one call of the batch function, in that thread:

    submit(a) submit(b) submit(c)  ─►  batch_fn([a, b, c]) in the thread  ─►  each submitter gets its result
                 submit(d) submit(e) (meanwhile)  ─►  batch_fn([d, e]) ...

so a batching step (spaCy's ``nlp.pipe``) sees whole windows, while parsing and NLP stay off the event loop (one
thread: the models are not shared between threads). ``batch_fn`` returns one result per item, in order; an
item that failed has its exception in its slot, and its submitter gets that exception raised. When the batch
function itself raises (a bug it did not isolate), every item is retried alone so that one bad message cannot
fail its neighbours. It knows nothing of Kafka or of what the items are, and never runs two batches at once.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

BatchFn = Callable[[list[Any]], Sequence[Any]]


def one_by_one(fn: Callable[[Any], Any]) -> BatchFn:
    """A batch function from a per-item step: each item's result or its exception."""

    def batch(items: list[Any]) -> list[Any]:
        out: list[Any] = []
        for item in items:
            try:
                out.append(fn(item))
            except Exception as exc:  # noqa: BLE001 - handed to that item's submitter
                out.append(exc)
        return out

    return batch


class Batcher:
    """Runs a synchronous batch function in one worker thread over whatever was submitted meanwhile (at most
    ``max_batch`` at once), and hands each submitter its own result or exception. It never reorders a
    submitter's result, never drops an item, and knows nothing of Kafka."""

    def __init__(self, batch_fn: BatchFn, max_batch: int, name: str = "step"):
        self.batch_fn = batch_fn
        self.max_batch = max_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-batch")
        self._queue: list[tuple[Any, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None
        self.on_batch: Callable[[int], None] | None = None  # observes each batch's size

    async def submit(self, item: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0)  # let the rest of the window be submitted first
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch:]
            items = [item for item, _ in batch]
            if self.on_batch is not None:
                self.on_batch(len(items))
            try:
                results = await loop.run_in_executor(self._executor, self._run, items)
            except BaseException as exc:  # the loop is closing: hand it to every waiter
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # its submitter was cancelled
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _run(self, items: list[Any]) -> Sequence[Any]:
        try:
            results = list(self.batch_fn(items))
            if len(results) != len(items):
                raise RuntimeError(f"batch function returned {len(results)} results for {len(items)} items")
            return results
        except Exception as exc:  # noqa: BLE001 - isolate the culprit: every item alone
            if len(items) == 1:
                return [exc]
            out: list[Any] = []
            for item in items:
                try:
                    [result] = self.batch_fn([item])
                except Exception as exc:  # noqa: BLE001
                    result = exc
                out.append(result)
            return out

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
