"""The vector-search stage: the disclosure catalogue in an embedded, persistent ChromaDB.

The index is built at start-up and reused across restarts while the catalogue and the
embedding model are unchanged (a fingerprint of both is kept in the collection's metadata).
"""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ai_assist.errors import VectorStoreError
from ai_assist.mapping.catalogue import Disclosure, catalogue_fingerprint
from ai_assist.mapping.embedding import EmbeddingModel
from ai_assist.mapping.types import Candidate

COLLECTION = "esg-disclosures"


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
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="chroma")
        self.rebuilt = False

    def build(self, disclosures: tuple[Disclosure, ...], model: EmbeddingModel) -> None:
        """Index the catalogue, or reuse the persisted index when nothing changed."""
        fingerprint = catalogue_fingerprint(disclosures, model.name)
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

    def _query(self, vector: np.ndarray, frameworks: tuple[str, ...], per_framework: int
               ) -> list[Candidate]:
        candidates: list[Candidate] = []
        result = self._collection.query(
            query_embeddings=[vector.tolist()],
            n_results=min(len(self._by_id), per_framework * len(frameworks) * 4),
            where={"framework": {"$in": list(frameworks)}},
            include=["distances"])
        taken: dict[str, int] = {}
        for disclosure_id, distance in zip(result["ids"][0], result["distances"][0]):
            d = self._by_id[disclosure_id]
            if taken.get(d.framework, 0) >= per_framework:
                continue
            taken[d.framework] = taken.get(d.framework, 0) + 1
            candidates.append(Candidate(framework=d.framework, disclosure_id=d.id,
                                        title=d.title, description=d.description,
                                        similarity=max(0.0, min(1.0, 1.0 - float(distance)))))
        candidates.sort(key=lambda c: c.similarity, reverse=True)
        return candidates

    async def search(self, vector: np.ndarray, frameworks: tuple[str, ...], limit: int
                     ) -> list[Candidate]:
        """The `limit` nearest disclosures, shared fairly among the requested frameworks."""
        if self._collection is None:
            raise VectorStoreError("the disclosure index is not built")
        per_framework = max(2, math.ceil(limit / len(frameworks)))
        try:
            found = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._query, vector, frameworks, per_framework)
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"vector search failed: {exc}") from exc
        return found[: max(limit, len(frameworks))]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
