"""The response cache (ai_assist/mapping/cache.py): a hit is the earlier LLM answer,
served without embedding, search or Gemini (the emulator's own call count does not
move), marked in the body and a header, and still a request in the user-facing figures;
no hit across frameworks, top_k, variants, tenants (API keys, companies), catalogue or
model versions unless the cache is explicitly shared; fallbacks never cached; TTL and
size bound; one Redis shared by two replicas; Redis down fails open. The cost
dashboard's cache panels on a real Prometheus: tests/stack/test_response_cache_on_prometheus.py."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import replace

import pytest
import requests
from ai_assist.config import Settings, SettingsError
from ai_assist.experiments.definition import Variant
from ai_assist.mapping.cache import (
    CachedAnswer,
    ResponseCache,
    llm_fingerprint,
    normalise_text,
)
from ai_assist.mapping.types import Match
from ai_assist.samples import SAMPLES, SCOPE1
from ai_assist.telemetry.metrics import Metrics

from tests.conftest import running_service
from tests.harness.cache import (  # noqa: F401 (fixtures: cache_replicas, redis)
    API_KEYS, cache_replicas, post, redis, total)
from tests.harness.processes import copy_index, emulator_stats

KOREAN = next(text for _, text in SAMPLES if any("\uac00" <= c <= "\ud7a3" for c in text))
ANSWER = CachedAnswer([Match("GRI", "GRI 305-1", "Direct (Scope 1) GHG emissions", 0.9,
                             "Scope 1 figure.")], "gemini-2.5-flash",
                      {"input": 1100, "cached_input": 400, "output": 300, "thinking": 120})


ADMIN_KEY = "cache-admin-key-0123456789"


def calls(emulator) -> int:
    return emulator_stats(emulator)["calls"]


@pytest.fixture(scope="module")
def cached_service(live_service, emulator, tmp_path_factory):
    work = tmp_path_factory.mktemp("cache")
    chroma = copy_index(live_service.settings.chroma_path, work / "chroma")
    experiment = work / "experiment.json"  # an A/A test: two variants that change nothing
    experiment.write_text(json.dumps({"name": "cache-aa", "variants": [
        {"name": "a", "weight": 50}, {"name": "b", "weight": 50}]}))
    with running_service(work, emulator.url, chroma_path=chroma, cache_enabled=True,
                         cache_max_entries=3, experiment_file=str(experiment),
                         admin_api_key=ADMIN_KEY) as service:
        yield service


def test_a_repeat_is_served_from_the_cache_without_embedding_or_gemini(cached_service,
                                                                       emulator):
    s = cached_service
    billed_before = emulator_stats(emulator)["tokens"]
    first = post(s, SCOPE1, frameworks=["GRI", "ESRS"], top_k=4)
    assert first.status_code == 200 and first.headers["X-Cache"] == "miss"
    assert first.json()["cached"] is False and not first.json()["fallback_used"]
    billed = {k: v - billed_before[k] for k, v in emulator_stats(emulator)["tokens"].items()}
    saved_before = {t: s.sample("esg_mapping_cache_tokens_saved_total", type=t,
                                model="gemini-2.5-flash")
                    for t in ("input", "cached_input", "output", "thinking")}
    before = {"calls": calls(emulator),
              "embedded": s.sample("esg_mapping_duration_seconds_count", stage="embedding"),
              "success": s.sample("esg_mapping_requests_total", status="success"),
              "latency": s.sample("esg_mapping_request_duration_seconds_count",
                                  status="success"),
              "hits": s.sample("esg_mapping_cache_lookups_total", result="hit")}
    # the same passage laid out differently (line breaks, indentation): the same request
    relaid = "  " + SCOPE1.replace(" ", "\n", 3).replace(" ", "\t ", 2) + " \n"
    again = post(s, relaid, frameworks=["ESRS", "GRI"], top_k=4)
    assert again.status_code == 200 and again.headers["X-Cache"] == "hit"
    body = again.json()
    assert body["cached"] is True and body["fallback_used"] is False
    assert body["matches"] == first.json()["matches"]
    assert body["request_id"] != first.json()["request_id"]
    assert calls(emulator) == before["calls"]  # Gemini was not asked
    assert s.sample("esg_mapping_duration_seconds_count", stage="embedding") == before["embedded"]
    # still a request answered with success, with its own (short) latency
    assert s.sample("esg_mapping_requests_total", status="success") == before["success"] + 1
    assert s.sample("esg_mapping_request_duration_seconds_count",
                    status="success") == before["latency"] + 1
    assert s.sample("esg_mapping_cache_lookups_total", result="hit") == before["hits"] + 1
    # what the first answer was billed (the emulator's own tally) is what the hit saved
    saved = {t: s.sample("esg_mapping_cache_tokens_saved_total", type=t,
                         model="gemini-2.5-flash") - saved_before[t]
             for t in saved_before}
    assert saved == {"input": billed["prompt"] - billed["cached"],
                     "cached_input": billed["cached"], "output": billed["output"],
                     "thinking": billed["thinking"]}
    assert saved["input"] > 0


def test_no_hit_across_frameworks_top_k_case_or_canonical_form(cached_service, emulator):
    s = cached_service
    text = SAMPLES[3][1]
    assert post(s, text, frameworks=["GRI"], top_k=3).headers["X-Cache"] == "miss"
    assert post(s, text, frameworks=["GRI"], top_k=3).headers["X-Cache"] == "hit"
    for other in ({"frameworks": ["ESRS"], "top_k": 3}, {"frameworks": ["GRI"], "top_k": 2}):
        before = calls(emulator)
        response = post(s, text, **other)
        assert response.headers["X-Cache"] == "miss", other
        assert calls(emulator) == before + 1, other
    assert post(s, text.upper(), frameworks=["GRI"], top_k=3).headers["X-Cache"] == "miss"
    # Korean typed as jamo (NFD) is the same text as precomposed syllables (NFC)
    assert post(s, KOREAN, top_k=3).headers["X-Cache"] == "miss"
    decomposed = unicodedata.normalize("NFD", KOREAN)
    assert decomposed != KOREAN
    assert post(s, decomposed, top_k=3).headers["X-Cache"] == "hit"


def test_no_hit_across_experiment_variants(cached_service, emulator):
    s = cached_service
    text = SAMPLES[2][1]

    def forced(variant: str) -> requests.Response:
        return requests.post(f"{s.url}/v1/esg/map", json={"text": text, "top_k": 4},
                             headers={"X-Experiment-Variant": variant,
                                      "Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60)

    assert forced("a").headers["X-Cache"] == "miss"
    assert forced("a").headers["X-Cache"] == "hit"
    before = calls(emulator)
    other = forced("b")  # the same request in the other variant: its own answer
    assert other.headers["X-Cache"] == "miss" and calls(emulator) == before + 1
    assert forced("b").headers["X-Cache"] == "hit"


def test_without_keys_each_company_has_its_own_entries(cached_service, emulator):
    """No API keys: the tenant is the company the request names (else the address)."""
    s = cached_service
    text = f"{SAMPLES[11][1]} (companies)"
    assert post(s, text, top_k=2, company_id="co-a").headers["X-Cache"] == "miss"
    before = calls(emulator)
    other = post(s, text, top_k=2, company_id="co-b")
    assert other.headers["X-Cache"] == "miss" and other.json()["cached"] is False
    assert calls(emulator) == before + 1
    assert post(s, text, top_k=2).headers["X-Cache"] == "miss"  # no company: the address
    assert post(s, text, top_k=2, company_id="co-a").headers["X-Cache"] == "hit"


def test_fallbacks_are_never_cached(cached_service, emulator):
    s = cached_service
    text = f"{SAMPLES[1][1]} [[emulate:503]]"
    for _ in range(2):
        response = post(s, text)
        assert response.status_code == 200 and response.json()["fallback_used"] is True
        assert response.headers["X-Cache"] == "miss" and response.json()["cached"] is False


def test_the_size_bound_evicts_the_least_recent_and_counts_it(cached_service):
    s = cached_service  # holds at most 3 answers
    evicted = s.sample("esg_mapping_cache_evictions_total")
    texts = [text for _, text in SAMPLES[4:8]]
    for text in texts:
        assert post(s, text, top_k=2).headers["X-Cache"] == "miss"
    assert s.sample("esg_mapping_cache_evictions_total") >= evicted + 1
    assert post(s, texts[-1], top_k=2).headers["X-Cache"] == "hit"
    assert post(s, texts[0], top_k=2).headers["X-Cache"] == "miss"  # the oldest went first


def test_the_openapi_document_names_the_field_and_the_header(cached_service):
    doc = requests.get(f"{cached_service.url}/openapi.json", timeout=10).json()
    ok = doc["paths"]["/v1/esg/map"]["post"]["responses"]["200"]
    assert ok["headers"]["X-Cache"]["schema"]["enum"] == ["hit", "miss"]
    assert doc["components"]["schemas"]["MapResponse"]["properties"]["cached"]["type"] == \
        "boolean"


# --- the cache itself: keys, TTL, Redis --------------------------------------------
def make_cache(scope=None, timer=None, **overrides) -> tuple[ResponseCache, Metrics]:
    metrics = Metrics()
    options = {"ttl_s": 60, "max_entries": 10, "shared": None,
               "scope": scope or {"catalogue": "c1", "llm": llm_fingerprint(Settings())},
               **overrides}
    if timer is not None:
        options["timer"] = timer
    return ResponseCache(metrics, **options), metrics


def test_keys_differ_by_tenant_unless_shared():
    cache, _ = make_cache()
    shared = cache.key(SCOPE1, ("GRI",), 5)
    keys = {shared, cache.key(SCOPE1, ("GRI",), 5, tenant="key:alice"),
            cache.key(SCOPE1, ("GRI",), 5, tenant="key:bob"),
            cache.key(SCOPE1, ("GRI",), 5, tenant="company:acme")}
    assert len(keys) == 4
    assert cache.key(SCOPE1, ("GRI",), 5, tenant="key:alice") == \
        cache.key(f" {SCOPE1} ", ("GRI",), 5, tenant="key:alice")
    for name in ("tenant", "shared"):
        assert Settings.from_env({"AI_ASSIST_CACHE_SCOPE": name}).cache_scope == name
    with pytest.raises(SettingsError, match="AI_ASSIST_CACHE_SCOPE"):
        Settings.from_env({"AI_ASSIST_CACHE_SCOPE": "everyone"})
    assert Settings.from_env({}).cache_scope == "tenant"  # the default


def test_keys_differ_by_variant_and_fold_only_layout():
    cache, _ = make_cache()
    key = cache.key(SCOPE1, ("GRI",), 5)
    assert cache.key(f"  {SCOPE1}\n", ("GRI",), 5) == key
    control, fewer = Variant("control", 50), Variant("fewer", 50, candidates=6)
    assert len({key, cache.key(SCOPE1, ("GRI",), 5, control),
                cache.key(SCOPE1, ("GRI",), 5, fewer),
                cache.key(SCOPE1, ("GRI",), 5, replace(fewer, candidates=4)),
                cache.key(SCOPE1.lower(), ("GRI",), 5)}) == 5
    assert SCOPE1 not in key and normalise_text(" a \u00a0 b\n") == "a b"


async def test_no_hit_across_catalogue_or_model_versions_and_ttl_expiry():
    now = [0.0]
    cache, metrics = make_cache(timer=lambda: now[0])
    key = cache.key(SCOPE1, ("GRI",), 5)
    await cache.put(key, ANSWER)
    assert await cache.get(key) == ANSWER
    for scope in ({"catalogue": "c2", "llm": llm_fingerprint(Settings())},
                  {"catalogue": "c1", "llm": llm_fingerprint(
                      Settings(gemini_model="gemini-2.5-flash-lite"))},
                  {"catalogue": "c1", "llm": llm_fingerprint(Settings(candidates=6))}):
        other, _ = make_cache(scope=scope)
        other.store = cache.store  # the same entries, another catalogue or model
        assert other.key(SCOPE1, ("GRI",), 5) != key
        assert await other.get(other.key(SCOPE1, ("GRI",), 5)) is None
    now[0] = 59.0
    assert await cache.get(key) == ANSWER
    now[0] = 60.5
    assert await cache.get(key) is None  # expired
    assert metrics.registry.get_sample_value("esg_mapping_cache_lookups_total",
                                             {"result": "hit"}) == 2
    assert metrics.registry.get_sample_value("esg_mapping_cache_tokens_saved_total", {
        "type": "cached_input", "model": "gemini-2.5-flash"}) == 800


def test_cache_settings_are_checked():
    for env in ({"AI_ASSIST_CACHE_TTL_S": "0"}, {"AI_ASSIST_CACHE_MAX_ENTRIES": "0"}):
        with pytest.raises(SettingsError, match=next(iter(env))):
            Settings.from_env(env)
    assert Settings.from_env({}).cache_enabled is False  # off by default


async def test_redis_entries_carry_the_ttl_and_json(redis):
    from redis import asyncio as aioredis

    from ai_assist.shared_store import SharedStore

    shared = SharedStore(redis.redis_url)
    cache, _ = make_cache(shared=shared, ttl_s=120)
    key = cache.key(KOREAN, ("GRI", "ESRS"), 3)
    await cache.put(key, ANSWER)
    assert await cache.get(key) == ANSWER
    client = aioredis.Redis.from_url(redis.redis_url)
    try:
        assert 0 < await client.ttl(key) <= 120
        assert json.loads(await client.get(key))["model"] == "gemini-2.5-flash"
    finally:
        await client.aclose()
        await cache.aclose()
        await shared.aclose()


def test_one_key_never_sees_another_keys_hit(cache_replicas, emulator):
    """Alice's answer, in the Redis both replicas share, is served to alice on either
    replica and never to bob: he gets his own miss (Gemini called) and then his own
    hits, with the same company_id or not."""
    a, b = cache_replicas
    text = f"{SAMPLES[3][1]} (tenants)"
    mine = post(a, text, "alice", top_k=3, company_id="acme")
    assert mine.headers["X-Cache"] == "miss"
    for replica in (a, b):
        before = calls(emulator)
        theirs = post(replica, text, "bob", top_k=3, company_id="acme")
        assert theirs.headers["X-Cache"] == ("miss" if replica is a else "hit")
        assert theirs.json()["cached"] is (replica is b)
        assert calls(emulator) == before + (replica is a)  # only his own miss calls Gemini
    assert post(b, text, "alice", top_k=3, company_id="acme").headers["X-Cache"] == "hit"
    assert post(b, text, "alice", top_k=3).headers["X-Cache"] == "hit"


def test_a_shared_cache_serves_every_key_when_the_operator_says_so(live_service, emulator,
                                                                  tmp_path_factory):
    """AI_ASSIST_CACHE_SCOPE=shared: the documented privacy consequence, for real: bob
    is served alice's answer (and can tell it is a hit)."""
    work = tmp_path_factory.mktemp("cache-shared")
    chroma = copy_index(live_service.settings.chroma_path, work / "chroma")
    with running_service(work, emulator.url, chroma_path=chroma, cache_enabled=True,
                         cache_scope="shared", api_keys=API_KEYS) as service:
        text = f"{SAMPLES[4][1]} (shared)"
        assert post(service, text, "alice", top_k=2).headers["X-Cache"] == "miss"
        before = calls(emulator)
        theirs = post(service, text, "bob", top_k=2)
        assert theirs.headers["X-Cache"] == "hit" and theirs.json()["cached"] is True
        assert calls(emulator) == before


def test_two_replicas_share_one_redis_cache_and_fail_open_without_it(cache_replicas, redis,
                                                                     emulator):
    a, b = cache_replicas
    text = SAMPLES[9][1]
    first = post(a, text, "alice", top_k=3)
    assert first.headers["X-Cache"] == "miss" and not first.json()["fallback_used"]
    before = calls(emulator)
    hits = total(b, "esg_mapping_cache_lookups_total", result="hit")
    shared = post(b, text, "alice", top_k=3)
    assert shared.headers["X-Cache"] == "hit" and shared.json()["cached"] is True
    assert shared.json()["matches"] == first.json()["matches"]
    assert calls(emulator) == before
    assert total(b, "esg_mapping_cache_lookups_total", result="hit") == hits + 1

    redis.stop()
    before = calls(emulator)
    gets = total(b, "esg_mapping_cache_errors_total", operation="get")
    sets = total(b, "esg_mapping_cache_errors_total", operation="set")
    for _ in range(2):  # Redis is gone: answered by the pipeline every time, counted
        response = post(b, text, "alice", top_k=3)
        assert response.status_code == 200 and response.headers["X-Cache"] == "miss"
        assert response.json()["fallback_used"] is False
    assert calls(emulator) == before + 2
    assert total(b, "esg_mapping_cache_errors_total", operation="get") == gets + 2
    assert total(b, "esg_mapping_cache_errors_total", operation="set") == sets + 2
    warnings = [json.loads(line) for line in b.log_lines()
                if '"cache_storage_unavailable"' in line]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"


def test_cache_answers_are_plain_json_round_trips():
    assert CachedAnswer.from_json(ANSWER.to_json()) == ANSWER
