"""Who a request is and how much it may send: API keys, the peer address, rate limits
shared by replicas through a real Redis, failing open when Redis is gone; and the
header-size bound of `python -m ai_assist`."""

from __future__ import annotations

import json
import secrets
import socket
import time
import uuid
from urllib.parse import urlparse

import httpx
import pytest
import requests

from ai_assist.app import create_app
from ai_assist import composition
from ai_assist.config import Settings, SettingsError
from ai_assist.identity import ApiKeys, parse_api_keys
from tests.harness.processes import start_redis, start_replicas, wait_until

LIMIT = 6  # per minute, per client
KEYS = {name: secrets.token_urlsafe(24) for name in ("alpha", "beta", "gamma")}
TEXT = "Board oversight of climate-related risks and opportunities."


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replicas(live_service, redis, tmp_path_factory):
    """Two service processes sharing one Redis and one key file (LLM off: fast answers)."""
    work = tmp_path_factory.mktemp("replicas")
    keys_file = work / "api-keys"
    keys_file.write_text("# name:key\n" + "".join(f"{n}:{k}\n" for n, k in KEYS.items()))
    env = {"AI_ASSIST_API_KEYS_FILE": str(keys_file), "AI_ASSIST_REDIS_URL": redis.redis_url,
           "AI_ASSIST_RATE_LIMIT_PER_MINUTE": str(LIMIT),
           "AI_ASSIST_RATE_LIMIT_BURST": str(LIMIT), "AI_ASSIST_LLM_ENABLED": "false"}
    started = start_replicas(work, env, live_service.settings.chroma_path)
    yield started
    for service in started:
        service.stop()


def call(service, key: str | None = None, **headers) -> requests.Response:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return requests.post(f"{service.url}/v1/esg/map", json={"text": TEXT}, timeout=30,
                         headers=headers)


def total(services, name: str, **labels) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    found = 0.0
    for service in services:
        text = requests.get(service.metrics_url, timeout=10).text
        found += sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                     if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))
    return found


def test_two_replicas_sharing_redis_allow_the_limit_once_in_total(replicas):
    before = total(replicas, "esg_mapping_rejected_requests_total", reason="rate_limited")
    # one client, alternating replicas, a fresh X-Client-ID every time: none of it helps
    codes = [call(replicas[i % 2], KEYS["alpha"], **{"X-Client-ID": str(uuid.uuid4())})
             .status_code for i in range(2 * LIMIT)]
    assert codes.count(200) == LIMIT, codes  # once in total, not once per replica
    assert codes.count(429) == LIMIT, codes
    assert codes[:LIMIT] == [200] * LIMIT
    assert total(replicas, "esg_mapping_rejected_requests_total",
                 reason="rate_limited") == before + LIMIT
    limited = call(replicas[0], KEYS["alpha"])
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["error"] == "rate_limited"
    # another key has a window of its own
    assert [call(r, KEYS["beta"]).status_code for r in replicas] == [200, 200]


@pytest.mark.parametrize("headers,words", [
    ({}, "no API key given"),
    ({"Authorization": "Bearer not-a-real-key-000000000"}, "not valid"),
    ({"X-API-Key": KEYS["alpha"][:-1]}, "not valid"),
    ({"Authorization": f"Basic {KEYS['alpha']}"}, "no API key given"),
    ({"X-Client-ID": "alpha"}, "no API key given"),
])
def test_a_request_without_a_valid_key_gets_401(replicas, headers, words):
    service = replicas[1]
    before = total([service], "esg_mapping_rejected_requests_total", reason="unauthorized")
    response = call(service, None, **headers)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["X-Request-ID"] == response.json()["request_id"]
    assert response.json()["error"] == "unauthorized"
    assert words in response.json()["message"]
    assert total([service], "esg_mapping_rejected_requests_total",
                 reason="unauthorized") == before + 1


def test_probes_metrics_and_docs_need_no_key(replicas):
    for path in ("/livez", "/readyz", "/health", "/metrics", "/openapi.json"):
        assert requests.get(f"{replicas[0].url}{path}", timeout=30).status_code == 200, path
    spec = requests.get(f"{replicas[0].url}/openapi.json", timeout=5).json()
    operation = spec["paths"]["/v1/esg/map"]["post"]
    assert "401" in operation["responses"] and operation["security"]
    assert set(spec["components"]["securitySchemes"]) == {"bearerKey", "apiKeyHeader"}


def test_key_names_are_the_client_in_logs_and_keys_never_appear(replicas):
    assert call(replicas[0], None, **{"X-API-Key": KEYS["gamma"],
                                      "X-Request-ID": "named-client"}).status_code == 200

    def completed() -> list[dict]:  # the line is written after the answer is sent
        events = (json.loads(line) for line in replicas[0].log_lines() if line.startswith("{"))
        return [e for e in events if e.get("request_id") == "named-client"
                and e["event"] == "request_completed"]
    assert [e["client_id"] for e in wait_until(completed, 10, "the request's log line")] \
        == ["gamma"]
    logged = "\n".join(line for service in replicas for line in service.log_lines())
    for key in KEYS.values():
        assert key not in logged


def test_a_huge_header_is_refused_and_costs_no_memory(replicas):
    service = replicas[0]
    address = urlparse(service.url)

    def rss_bytes() -> int:
        status = open(f"/proc/{service.proc.pid}/status").read()
        return int(next(line.split()[1] for line in status.splitlines()
                        if line.startswith("VmRSS:"))) * 1024

    before = rss_bytes()
    sent, reply = 0, b""
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk = b"a" * (1 << 20)
        try:
            for _ in range(100):  # up to 100 MB of one header
                conn.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server hung up: what we wanted
        try:
            reply = conn.recv(65536)
        except (ConnectionResetError, TimeoutError):
            reply = b""
    assert sent < 32 * (1 << 20), f"the server read {sent} bytes of one header"
    assert reply == b"" or reply.startswith(b"HTTP/1.1 400")
    started = time.monotonic()
    assert requests.get(f"{service.url}/livez", timeout=5).status_code == 200
    assert time.monotonic() - started < 1.0
    assert rss_bytes() - before < 50 * (1 << 20)
    # a large but ordinary header is still fine
    assert requests.get(f"{service.url}/livez", timeout=5,
                        headers={"X-Fine": "b" * 8000}).status_code == 200


def test_with_redis_down_requests_go_through_counted_and_warned_once(replicas, redis):
    service = replicas[1]
    redis.stop()
    before = total([service], "ai_assist_rate_limit_storage_errors_total")
    codes = [call(service, KEYS["beta"]).status_code for _ in range(LIMIT + 2)]
    assert codes == [200] * (LIMIT + 2)  # beta had LIMIT - 2 left: it is not limited now
    assert total([service], "ai_assist_rate_limit_storage_errors_total") == before + LIMIT + 2
    warnings = [json.loads(line) for line in service.log_lines()
                if '"rate_limit_storage_unavailable"' in line]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"
    assert "ConnectionError" in warnings[0]["error"] or "Timeout" in warnings[0]["error"]


# --- without processes: identity rules against the app itself (no model needed: the
# --- identity and the limit come before the readiness check)

async def ask(app, headers: dict[str, str], peer: str = "127.0.0.1") -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return await client.post("/v1/esg/map", json={"text": TEXT}, headers=headers)


@pytest.mark.parametrize("trusted,expect", [("", [503, 429, 429]),
                                            ("127.0.0.1/32, 10.0.0.0/8", [503, 429, 503])])
async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(trusted, expect):
    app = create_app(Settings(rate_limit_per_minute=1, rate_limit_burst=1,
                              trusted_proxies=trusted))
    codes = [(await ask(app, {"X-Forwarded-For": xff})).status_code
             for xff in ("203.0.113.1", "203.0.113.1", "203.0.113.2")]
    assert codes == expect  # 503: passed the limit, then "warming up" (no model loaded)


def test_api_keys_parse_and_refuse_bad_entries_without_showing_keys():
    assert parse_api_keys("# comment\nalpha:" + "k" * 16 + "\n\n beta : " + "z" * 20 +
                          "  # trailing\n") == {"alpha": "k" * 16, "beta": "z" * 20}
    assert parse_api_keys("a:" + "1" * 16 + ",b:" + "2" * 16) == {"a": "1" * 16, "b": "2" * 16}
    secret = "s3cret-value-that-must-not-leak"
    for raw, words in ((f"no-separator{secret}", "entry 1"), ("alpha:short", "16"),
                       (f"bad name:{secret}", "entry 1"),
                       (f"a:{secret}\na:{secret}x", "given twice"),
                       (f"a:{secret}\nb:{secret}", "another name's key")):
        with pytest.raises(ValueError) as caught:
            parse_api_keys(raw)
        assert words in str(caught.value) and secret not in str(caught.value)


def test_api_keys_come_from_a_file_and_are_matched_by_value(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"ops:{KEYS['alpha']}\n")
    settings = Settings.from_env({"AI_ASSIST_API_KEYS_FILE": str(path)})
    keys = ApiKeys(settings.api_keys)
    assert keys.name_for({"authorization": f"Bearer {KEYS['alpha']}"}) == "ops"
    assert keys.name_for({"x-api-key": KEYS["alpha"]}) == "ops"
    assert keys.name_for({"x-api-key": KEYS["beta"]}) is None
    assert settings.redacted()["api_keys"] == "set"
    path.write_text("ops:tooshort\n")
    with pytest.raises(SettingsError, match="AI_ASSIST_API_KEYS"):
        composition.load({"AI_ASSIST_API_KEYS_FILE": str(path)})
    for name, value in (("AI_ASSIST_TRUSTED_PROXIES", "not-an-ip"),
                        ("AI_ASSIST_REDIS_URL", "http://redis:6379")):
        with pytest.raises(SettingsError, match=name):
            composition.load({name: value})
