"""The vector-search stage: the disclosure catalogue in an embedded, persistent ChromaDB.

The index is built at start-up and reused across restarts while the catalogue and the
embedding model and its backend are unchanged (a fingerprint of them is kept in the
collection's metadata).
It is derived data: when its files are damaged (a truncated or overwritten SQLite file, a
broken segment), open_index logs one warning naming the problem, removes ChromaDB's files
from the directory and builds the index again from the catalogue.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ai_assist.errors import VectorStoreError
from ai_assist.mapping import prebuilt
from ai_assist.mapping.catalogue import Disclosure, catalogue_fingerprint
from ai_assist.mapping.embedding import EmbeddingModel
from ai_assist.mapping.types import Candidate
from ai_assist.telemetry import profiling
from ai_assist.telemetry.logging import get_logger

COLLECTION = "esg-disclosures"
# What ChromaDB and SQLite say about damaged files. Anything else (a locked database, a
# permission or a full disk) is not damage: the start fails and names it, nothing is wiped.
_DAMAGE = re.compile(r"malformed|not a database|no such table|no such column|corrupt|"
                     r"damaged|hnsw|segment|unexpected end|checksum", re.IGNORECASE)
# ChromaDB's own files in its directory: the SQLite file (with its journals) and one
# directory per segment, named by UUID. Nothing else in the directory is touched.
_CHROMA_FILE = re.compile(r"^chroma\.sqlite3(-wal|-shm|-journal)?$")
_SEGMENT_DIR = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
log = get_logger("ai_assist.vector_store")


class VectorStore:
    def __init__(self, path: str) -> None:
        import chromadb

        try:
            self._client = chromadb.PersistentClient(
                path=path, settings=chromadb.Settings(anonymized_telemetry=False))
        except Exception as exc:
            raise VectorStoreError(f"cannot open ChromaDB at {path!r}: {exc}") from exc
        self._collection = None
        self._by_id: dict[str, Disclosure] = {}
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="chroma",
                                            initializer=profiling.tag_worker_thread,
                                            initargs=("vector_search",))
        self._path = path
        self.rebuilt = False
        self.repaired = False  # rebuilt because the files were damaged
        self.fingerprint = ""  # of the catalogue and model indexed (backend too), once built

    def build(self, disclosures: tuple[Disclosure, ...], model: EmbeddingModel) -> None:
        """Index the catalogue, or reuse the persisted index when nothing changed."""
        self.fingerprint = fingerprint = catalogue_fingerprint(disclosures, model.identity)
        self._by_id = {d.id: d for d in disclosures}
        try:
            existing = self._client.get_collection(COLLECTION)
        except Exception:
            existing = None
        if (existing is not None and (existing.metadata or {}).get("fingerprint") == fingerprint
                and existing.count() == len(disclosures)):
            self._collection = existing
            self.rebuilt = False
            return
        if existing is not None:
            self._client.delete_collection(COLLECTION)
        collection = self._client.create_collection(
            COLLECTION, metadata={"hnsw:space": "cosine", "fingerprint": fingerprint})
        vectors = prebuilt.load(disclosures, model)  # the bundled model's, when fresh
        if vectors is None:
            vectors = model.encode([d.document for d in disclosures], kind="passage")
        collection.add(ids=[d.id for d in disclosures], embeddings=vectors.tolist(),
                       documents=[d.document for d in disclosures],
                       metadatas=[d.to_metadata() for d in disclosures])
        self._collection = collection
        self.rebuilt = True

    def count(self) -> int:
        if self._collection is None:
            raise VectorStoreError("the disclosure index is not built")
        return self._collection.count()

    def _query(self, vectors: list[np.ndarray], frameworks: tuple[str, ...],
               per_framework: int) -> list[list[Candidate]]:
        """One ChromaDB query for several vectors with the same frameworks and count."""
        result = self._collection.query(
            query_embeddings=np.asarray(vectors, dtype=np.float32),
            n_results=min(len(self._by_id), per_framework * len(frameworks) * 4),
            where={"framework": {"$in": list(frameworks)}},
            include=["distances"])
        found = []
        for ids, distances in zip(result["ids"], result["distances"]):
            candidates: list[Candidate] = []
            taken: dict[str, int] = {}
            for disclosure_id, distance in zip(ids, distances):
                d = self._by_id[disclosure_id]
                if taken.get(d.framework, 0) >= per_framework:
                    continue
                taken[d.framework] = taken.get(d.framework, 0) + 1
                candidates.append(Candidate(
                    framework=d.framework, disclosure_id=d.id, title=d.title,
                    description=d.description,
                    similarity=max(0.0, min(1.0, 1.0 - float(distance)))))
            candidates.sort(key=lambda c: c.similarity, reverse=True)
            found.append(candidates)
        return found

    def _search_many(self, vectors: list[np.ndarray],
                     queries: list[tuple[tuple[str, ...], int]]) -> list[list[Candidate]]:
        """The answers of `queries` ((frameworks, limit) per vector), one ChromaDB call per
        distinct (frameworks, count) among them: a micro-batch of requests with the same
        frameworks and candidate count is one call. Each answer is what `search` gives."""
        groups: dict[tuple, list[int]] = {}
        for index, (frameworks, limit) in enumerate(queries):
            groups.setdefault((frameworks, _per_framework(limit, frameworks)), []).append(index)
        answers: list[list[Candidate]] = [[] for _ in queries]
        for (frameworks, per_framework), members in groups.items():
            found = self._query([vectors[i] for i in members], frameworks, per_framework)
            for index, candidates in zip(members, found):
                answers[index] = candidates[: max(queries[index][1], len(frameworks))]
        return answers

    async def search(self, vector: np.ndarray, frameworks: tuple[str, ...], limit: int
                     ) -> list[Candidate]:
        """The `limit` nearest disclosures, shared fairly among the requested frameworks."""
        return (await self.search_many([vector], [(frameworks, limit)]))[0]

    async def search_many(self, vectors: list[np.ndarray],
                          queries: list[tuple[tuple[str, ...], int]]) -> list[list[Candidate]]:
        """`search` for several vectors at once, on the store's threads (see _search_many)."""
        if self._collection is None:
            raise VectorStoreError("the disclosure index is not built")
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, self._search_many, vectors, queries)
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"vector search failed: {exc}") from exc

    def verify(self, expected: int) -> None:
        """Read the index back: its size, and one nearest-neighbour query."""
        count = self.count()
        if count != expected:
            raise VectorStoreError(f"index damaged: it holds {count} of {expected} "
                                   f"disclosures after the build")
        probe = self._collection.get(limit=1, include=["embeddings"])
        self._collection.query(query_embeddings=[list(probe["embeddings"][0])], n_results=1,
                               include=["distances"])

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _per_framework(limit: int, frameworks: tuple[str, ...]) -> int:
    return max(2, math.ceil(limit / len(frameworks)))


def _forget_client(path: str) -> None:
    """ChromaDB keeps one client system per path for the whole process, and keeps a
    broken one after a failed open: drop it, so the next open starts afresh."""
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        same = [key for key in list(SharedSystemClient._identifier_to_system)
                if os.path.realpath(key) == os.path.realpath(path)]
        for key in same:
            SharedSystemClient._identifier_to_refcount.pop(key, None)
            system = SharedSystemClient._identifier_to_system.pop(key, None)
            if system is not None:
                system.stop()
    except Exception:  # private API moved, or stopping a broken system failed
        pass


def _is_damage(exc: BaseException) -> bool:
    if type(exc).__name__ == "PanicException":  # the Rust core gave up on the files
        return True
    return bool(_DAMAGE.search(f"{exc} {exc.__cause__ or ''}"))


def _remove_chroma_files(path: str) -> list[str]:
    removed = []
    for entry in sorted(Path(path).iterdir()):
        if entry.is_file() and _CHROMA_FILE.match(entry.name):
            entry.unlink()
        elif entry.is_dir() and _SEGMENT_DIR.match(entry.name):
            shutil.rmtree(entry)
        else:
            continue
        removed.append(entry.name)
    return removed


def open_index(path: str, disclosures: tuple[Disclosure, ...],
               model: EmbeddingModel) -> VectorStore:
    """The index at `path`, reused or built; rebuilt from the catalogue when damaged."""
    store = None
    try:
        store = VectorStore(path)
        store.build(disclosures, model)
        store.verify(len(disclosures))
        return store
    except BaseException as exc:
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        if not _is_damage(exc):
            raise
        problem = f"{type(exc).__name__}: {exc}"[:500]
    if store is not None:
        store.close()
    _forget_client(path)
    removed = _remove_chroma_files(path) if os.path.isdir(path) else []
    log.warning("vector_index_damaged", path=path, problem=problem, removed=removed,
                action="rebuilding the index from the catalogue")
    store = VectorStore(path)
    store.build(disclosures, model)
    store.verify(len(disclosures))
    store.repaired = True
    return store
