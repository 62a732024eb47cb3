"""Issue 13's changes that a user relies on (speed itself is measured by `make bench`,
never asserted): a micro-batch's texts are searched together and each request still gets
exactly the candidates of its own search; the Gemini client reads no proxy or netrc from
the environment; and a call's generation config is built once."""

from __future__ import annotations

import asyncio

import numpy as np
from ai_assist.config import Settings
from ai_assist.mapping.embedding import MicroBatcher
from ai_assist.mapping.llm import GeminiMapper
from ai_assist.samples import SAMPLES, SCOPE1
from ai_assist.telemetry.metrics import Metrics
from prometheus_client import CollectorRegistry

from tests.harness.candidates import ESRS_E1_6, GRI_303_3, GRI_305_1, GRI_305_2

# mixed frameworks and candidate counts in one batch (an experiment variant may ask for
# another count than the settings)
QUERIES = [(("GRI", "SASB", "TCFD", "ESRS"), 12), (("GRI",), 12), (("ESRS", "TCFD"), 6),
           (("GRI", "SASB", "TCFD", "ESRS"), 12), (("SASB",), 3), (("GRI", "ESRS"), 20),
           (("GRI",), 12), (("TCFD", "GRI", "SASB", "ESRS"), 8)]


def _nearest(store, vector: np.ndarray, frameworks) -> tuple[str, float]:
    """Brute force over the whole index, apart from ChromaDB's search: the disclosure of
    the requested frameworks nearest to `vector` (cosine)."""
    everything = store._collection.get(include=["embeddings", "metadatas"])
    best = max((float(np.dot(vector, e) / np.linalg.norm(e)), i)
               for i, e, m in zip(everything["ids"], everything["embeddings"],
                                  everything["metadatas"])
               if m["framework"] in frameworks)
    return best[1], best[0]


async def test_one_batch_of_mixed_frameworks_gets_each_requests_own_candidates(live_service):
    state = live_service.state
    batcher = MicroBatcher(state.model, Metrics(CollectorRegistry()), max_batch=32,
                           max_wait_ms=50, queue_size=64, store=state.store)
    batcher.start()
    try:
        texts = [SAMPLES[i % len(SAMPLES)][1] for i in range(len(QUERIES))]
        batched = await asyncio.gather(*(batcher.embed_and_search(t, fw, n)
                                         for t, (fw, n) in zip(texts, QUERIES)))
        # one request at a time, each in its own ChromaDB call
        alone = [await state.store.search(b.vector, fw, n)
                 for b, (fw, n) in zip(batched, QUERIES)]
    finally:
        await batcher.stop()
    assert {b.texts_searched for b in batched} == {len(QUERIES)}  # one batch, searched once
    assert len({(b.embedded_at, b.searched_at) for b in batched}) == 1
    for found, single, (frameworks, wanted) in zip(batched, alone, QUERIES):
        assert found.candidates == single
        assert found.candidates and len(found.candidates) <= max(wanted, len(frameworks))
        assert {c.framework for c in found.candidates} <= set(frameworks)
        nearest, similarity = _nearest(state.store, found.vector, frameworks)
        assert found.candidates[0].disclosure_id == nearest
        assert abs(found.candidates[0].similarity - similarity) < 1e-4


def test_requests_record_both_stages_each(live_service):
    """Every answered request observes one embedding and one vector_search duration,
    though its search was shared with the rest of its batch."""
    import requests

    def count(stage: str) -> float:
        return live_service.sample("esg_mapping_duration_seconds_count", stage=stage)

    before = {s: count(s) for s in ("embedding", "vector_search")}
    for text in (SAMPLES[0][1], SAMPLES[1][1], SAMPLES[2][1]):
        response = requests.post(f"{live_service.url}/v1/esg/map",
                                 json={"text": text, "frameworks": ["GRI", "ESRS"]},
                                 timeout=30)
        assert response.status_code == 200
    assert {s: count(s) - before[s] for s in before} == {"embedding": 3,
                                                         "vector_search": 3}


async def test_gemini_calls_ignore_proxy_and_netrc_environment(emulator, monkeypatch,
                                                              tmp_path):
    """google-genai's own session trusts the environment (a netrc read and a proxy
    look-up per call); the service's does not: a dead proxy in the environment and a
    netrc for the emulator's host change nothing."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(netrc))
    settings = Settings(gemini_base_url=emulator.url, llm_max_retries=0,
                        circuit_failure_threshold=0)
    mapper = GeminiMapper(settings, Metrics(CollectorRegistry(), model=settings.gemini_model))
    try:
        assert mapper._session is not None and mapper._session.trust_env is False
        candidates = [GRI_305_1, GRI_303_3, ESRS_E1_6, GRI_305_2]
        result = await mapper.map(SCOPE1, candidates, ("GRI", "ESRS"), 3)
        assert result.attempts == 1 and result.matches
    finally:
        await mapper.aclose()
    assert mapper._session.closed


def test_generation_config_is_built_once_per_candidates_and_top_k():
    settings = Settings(gemini_base_url="http://127.0.0.1:9")
    mapper = GeminiMapper(settings, Metrics(CollectorRegistry(), model=settings.gemini_model))
    first = mapper.generation_config([GRI_305_1, GRI_303_3], 3)
    assert mapper.generation_config([GRI_305_1, GRI_303_3], 3) is first
    assert mapper.generation_config([GRI_305_1, GRI_303_3], 2) is not first
    other = mapper.generation_config([GRI_305_1, ESRS_E1_6], 3)
    enum = other.response_schema.properties["matches"].items.properties["disclosure_id"].enum
    assert enum == [GRI_305_1.disclosure_id, ESRS_E1_6.disclosure_id]


def test_both_bundled_models_ship_fresh_catalogue_vectors():
    """A cold start with either bundled model indexes the shipped vectors instead of
    embedding the catalogue (the embedding left ~90 MiB resident with MiniLM)."""
    from types import SimpleNamespace

    from ai_assist.config import BUNDLED_MINILM, BUNDLED_MODEL
    from ai_assist.mapping import prebuilt
    from ai_assist.mapping.backends import identity_of
    from ai_assist.mapping.catalogue import load_catalogue

    catalogue = load_catalogue()
    for name in (BUNDLED_MODEL, BUNDLED_MINILM):
        model = SimpleNamespace(name=name, identity=identity_of(name), dimension=384)
        vectors = prebuilt.load(catalogue, model)
        assert vectors is not None, f"{name}: stale, run `make dashboards`"
        assert vectors.shape == (len(catalogue), 384)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
