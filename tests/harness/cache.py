"""The response cache's clients and stack: two tenants' API keys, a request as a tenant
sends it, a replica's counter, and the Redis and two replicas sharing it
(tests/service/test_response_cache.py, tests/stack/test_response_cache_on_prometheus.py,
which import the fixtures)."""

from __future__ import annotations

import pytest
import requests

from tests.harness.processes import start_redis, start_replicas

KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdefgh"}
API_KEYS = ",".join(f"{name}:{key}" for name, key in KEYS.items())


def post(service, text: str, key: str | None = None, **body) -> requests.Response:
    headers = {"X-API-Key": KEYS[key]} if key else {}
    return requests.post(f"{service.url}/v1/esg/map", json={"text": text, **body},
                         headers=headers, timeout=60)


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    server = start_redis(tmp_path_factory.mktemp("cache-redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cache_replicas(live_service, emulator, redis, tmp_path_factory):
    """Two service processes sharing one Redis cache (and one emulator)."""
    work = tmp_path_factory.mktemp("cache-replicas")
    env = {"AI_ASSIST_REDIS_URL": redis.redis_url, "AI_ASSIST_CACHE_ENABLED": "true",
           "AI_ASSIST_GEMINI_BASE_URL": emulator.url, "AI_ASSIST_RATE_LIMIT_PER_MINUTE": "0",
           "AI_ASSIST_LLM_TIMEOUT_S": "2", "AI_ASSIST_CIRCUIT_FAILURE_THRESHOLD": "0",
           "AI_ASSIST_API_KEYS": API_KEYS}
    started = start_replicas(work, env, live_service.settings.chroma_path)
    yield started
    for service in started:
        service.stop()


def total(service, name: str, **labels) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(service.metrics_url, timeout=10).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))
