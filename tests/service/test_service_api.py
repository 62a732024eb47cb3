"""The HTTP API as a client sees it: answers, ids, health, and every kind of bad input."""

from __future__ import annotations

import threading

import pytest
import requests

from ai_assist.samples import SAMPLES, SCOPE1
from tests.conftest import running_service


def post(url, **kwargs):
    return requests.post(f"{url}/v1/esg/map", timeout=30, **kwargs)


def test_scope1_passage_maps_to_gri_305_1(live_service):
    response = post(live_service.url, json={"text": SCOPE1, "top_k": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["fallback_used"] is False
    ids = [m["disclosure_id"] for m in body["matches"]]
    assert "GRI 305-1" in ids
    assert 1 <= len(ids) <= 5
    for match in body["matches"]:
        assert 0 <= match["confidence"] <= 1 and match["rationale"] and match["title"]
    assert body["average_confidence"] == pytest.approx(
        sum(m["confidence"] for m in body["matches"]) / len(ids), abs=1e-3)


def test_frameworks_filter_the_answer(live_service):
    for framework in ("GRI", "SASB", "TCFD", "ESRS"):
        body = post(live_service.url, json={"text": SAMPLES[4][1], "frameworks": [framework],
                                            "top_k": 3}).json()
        assert body["matches"], framework
        assert {m["framework"] for m in body["matches"]} == {framework}


def test_korean_passage_is_answered(live_service):
    body = post(live_service.url, json={"text": SAMPLES[9][1], "top_k": 5}).json()
    assert body["matches"] and body["request_id"]


def test_request_id_is_kept_when_valid_and_replaced_when_not(live_service):
    kept = post(live_service.url, json={"text": SCOPE1}, headers={"X-Request-ID": "abc-123"})
    assert kept.headers["X-Request-ID"] == "abc-123" == kept.json()["request_id"]
    replaced = post(live_service.url, json={"text": SCOPE1},
                    headers={"X-Request-ID": "bad id <script>" + "x" * 200})
    assert replaced.headers["X-Request-ID"] != "abc-123"
    assert len(replaced.headers["X-Request-ID"]) == 36  # a fresh UUID


BAD_INPUTS = [
    ("empty_text", 422, {"json": {"text": "   \n\t"}}, "empty"),
    ("text_too_long", 413, {"json": {"text": "a" * 8001}}, "limit is 8000"),
    ("unknown_framework", 422, {"json": {"text": "Scope 1", "frameworks": ["GRI", "CDP"]}},
     "CDP"),
    ("top_k_out_of_range", 422, {"json": {"text": "Scope 1", "top_k": 50}}, "1..20"),
    ("top_k_out_of_range", 422, {"json": {"text": "Scope 1", "top_k": 0}}, "1..20"),
    ("invalid_json", 400, {"data": b'{"text": ', "headers": {"Content-Type": "application/json"}},
     "not valid JSON"),
    ("unsupported_media_type", 415, {"data": b"text=hi", "headers": {"Content-Type":
                                                                     "text/plain"}},
     "application/json"),
    ("invalid_request", 422, {"json": {"text": ["not", "a", "string"]}}, "text"),
    ("invalid_request", 422, {"json": {"text": "ok", "unexpected": 1}}, "unexpected"),
    ("invalid_request", 422, {"json": ["a", "list"]}, "body"),
    ("body_too_large", 413, {"data": b'{"text": "' + b"a" * 70_000 + b'"}',
                             "headers": {"Content-Type": "application/json"}}, "larger than"),
]


@pytest.mark.parametrize("reason,status,kwargs,words", BAD_INPUTS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_INPUTS)])
def test_bad_input_gets_a_clear_4xx_and_is_counted(live_service, reason, status, kwargs, words):
    before = live_service.sample("esg_mapping_rejected_requests_total", reason=reason)
    response = post(live_service.url, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == reason
    assert words in body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert live_service.sample("esg_mapping_rejected_requests_total", reason=reason) == before + 1
    # and the service keeps serving
    assert post(live_service.url, json={"text": SCOPE1}).status_code == 200


def test_chunked_body_over_the_limit_is_refused(live_service):
    def chunks():
        yield b'{"text": "'
        for _ in range(20):
            yield b"a" * 5000
        yield b'"}'

    response = post(live_service.url, data=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


def test_health_reports_every_component(live_service):
    response = requests.get(f"{live_service.url}/health", timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert set(body["checks"]) == {"embedding_model", "chroma_db", "gemini_api", "gpu"}
    assert all(c["ok"] for c in body["checks"].values())
    assert requests.get(f"{live_service.url}/livez", timeout=5).status_code == 200
    assert requests.get(f"{live_service.url}/readyz", timeout=5).text == "ready"


def test_openapi_describes_the_api(live_service):
    spec = requests.get(f"{live_service.url}/openapi.json", timeout=5).json()
    operation = spec["paths"]["/v1/esg/map"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"text", "frameworks", "top_k", "company_id", "user_id"} <= set(schema["properties"])
    assert {"200", "400", "413", "415", "422", "429", "503"} <= set(operation["responses"])
    for path in ("/health", "/livez", "/readyz", "/metrics"):
        assert path in spec["paths"]


def test_llm_off_means_fallback_answers_and_degraded_health(tmp_path, emulator):
    with running_service(tmp_path, emulator.url, llm_enabled=False) as service:
        body = post(service.url, json={"text": SCOPE1, "top_k": 5}).json()
        assert body["fallback_used"] and body["fallback_reason"] == "llm_disabled"
        assert "GRI 305-1" in [m["disclosure_id"] for m in body["matches"]]
        health = requests.get(f"{service.url}/health", timeout=30)
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert service.sample("ai_assist_health_status", component="gemini_api") == 0


def test_rate_limit_answers_429_with_retry_after(tmp_path, emulator):
    with running_service(tmp_path, emulator.url, rate_limit_per_minute=6,
                         rate_limit_burst=2) as service:
        codes = [post(service.url, json={"text": SCOPE1}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = post(service.url, json={"text": SCOPE1})
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert "rate limit" in limited.json()["message"]
        # headers the client chooses do not make it someone else (the peer address decides)
        for i in range(3):
            assert post(service.url, json={"text": SCOPE1},
                        headers={"X-Client-ID": f"new-{i}",
                                 "X-Forwarded-For": f"203.0.113.{i}"}).status_code == 429
        assert service.sample("esg_mapping_rejected_requests_total", reason="rate_limited") == 5


def test_concurrent_requests_all_answer(live_service):
    results = []

    def one():
        results.append(post(live_service.url, json={"text": SAMPLES[1][1]}).status_code)

    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 16
