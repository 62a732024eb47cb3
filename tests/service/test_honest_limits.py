"""Limits that hold as documented (issue 19), each against the real service:
- the total size of a request's headers, for a header block that arrives whole too
  (it used to pass h11's bound, which holds only while a block is incomplete);
- a frozen Redis (SIGSTOP of a real redis-server) gets a connection every few seconds,
  not one per request piling up in its accept queue;
- failed admin-key attempts are counted and, past a bound, refused without a check;
- Gemini's error bodies, which may quote the passage, are not logged or traced;
- SIGTERM during an on-demand profile ends the profile request cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from urllib.parse import urlparse

import httpx
import pytest
import requests
from ai_assist.admin_profile import MAX_AUTH_FAILURES
from ai_assist.app import create_app
from ai_assist.config import Settings
from ai_assist.samples import SCOPE1
from ai_assist.storage_backoff import BASE_S, CAP_S

from tests.conftest import running_service
from tests.harness.processes import (
    copy_index, start_redis, start_service, wait_until,
)

MAX_HEADER_BYTES = 16384
ADMIN_KEY = "limits-admin-key-0123456789"


@pytest.fixture(scope="module")
def process(live_service, emulator, tmp_path_factory):
    """`python -m ai_assist` itself: h11 and its bounds are set up there."""
    work = tmp_path_factory.mktemp("limits")
    service = start_service(work, {
        "AI_ASSIST_CHROMA_PATH": copy_index(live_service.settings.chroma_path,
                                            work / "chroma"),
        "AI_ASSIST_GEMINI_BASE_URL": emulator.url, "AI_ASSIST_RATE_LIMIT_PER_MINUTE": "0",
        "AI_ASSIST_ADMIN_API_KEY": ADMIN_KEY})
    yield service
    service.stop()


def raw_request(url: str, head: bytes, body: bytes = b"") -> bytes:
    """One request sent in a single write (a whole header block), the reply read to EOF."""
    address = urlparse(url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(head + body)
        reply = b""
        try:
            while chunk := conn.recv(65536):
                reply += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return reply


def map_head(url: str, pad: int, body: bytes) -> bytes:
    host = urlparse(url).netloc
    return (f"POST /v1/esg/map HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\nX-Pad: {'a' * pad}\r\n\r\n").encode()


def rejected(service, reason: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(service.metrics_url, timeout=10).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "esg_mapping_rejected_requests_total"
               and s.labels.get("reason") == reason)


@pytest.mark.parametrize("pad", [MAX_HEADER_BYTES, 128 * 1024])
def test_a_whole_header_block_over_the_bound_is_a_431_with_a_reason(process, pad):
    """The headers arrive in one write, as a complete block: before, 128 KB of them were
    accepted (h11 bounds only an incomplete block). Now 431 headers_too_large, JSON,
    connection closed; or, for a block so large that it arrives in pieces, h11's 400."""
    body = json.dumps({"text": SCOPE1}).encode()
    before = rejected(process, "headers_too_large")
    reply = raw_request(process.url, map_head(process.url, pad, body), body)
    status = reply.split(b" ", 2)[1]
    assert status in (b"431", b"400"), reply[:200]
    if status == b"431":
        head, _, payload = reply.partition(b"\r\n\r\n")
        assert b"connection: close" in head.lower()
        answer = json.loads(payload)
        assert answer["error"] == "headers_too_large"
        assert f"the limit is {MAX_HEADER_BYTES}" in answer["message"]
        assert rejected(process, "headers_too_large") == before + 1
    # just under the bound is fine
    small = map_head(process.url, MAX_HEADER_BYTES - 400, body)
    assert len(small) < MAX_HEADER_BYTES
    assert raw_request(process.url, small, body).startswith(b"HTTP/1.1 200")


def test_the_bound_holds_on_every_route(process):
    reply = requests.get(f"{process.url}/livez", headers={"X-Pad": "b" * 20000}, timeout=10)
    assert reply.status_code == 431 and reply.json()["error"] == "headers_too_large"
    assert requests.get(f"{process.url}/livez", timeout=5).status_code == 200


# --- a frozen Redis ------------------------------------------------------------------
def accept_queue(port: int) -> int:
    """Connections waiting in the listening socket's accept queue (ss's Recv-Q for a
    LISTEN socket, from /proc/net/tcp's rx_queue)."""
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            return int(queues.split(":")[1], 16)
    raise AssertionError(f"no listening socket on port {port}")


CLIENTS = 8  # sending back to back while Redis is frozen


def tries_allowed(seconds: float) -> int:
    """The most tries StoreBackoff makes in `seconds` of outage: its shortest delays
    (half of each exponential step, capped) back to back, plus the first failure."""
    tries, spent, failures = 1, 0.0, 1
    while True:
        spent += min(CAP_S, BASE_S * 2 ** failures) / 2
        if spent > seconds:
            return tries
        tries, failures = tries + 1, failures + 1


def test_a_frozen_redis_gets_backoff_not_a_connection_storm(live_service, emulator,
                                                            tmp_path_factory):
    """A real redis-server under SIGSTOP while 8 clients send requests back to back
    through the rate limiter and the cache: every request is answered (fail open), and
    the connections piled up in Redis's accept queue stay within what the backoff allows
    (one guard for the limiter and the cache, ai_assist/shared_store.py), instead of one
    per request."""
    work = tmp_path_factory.mktemp("frozen-redis")
    redis = start_redis(work)
    service = start_service(work, {
        "AI_ASSIST_CHROMA_PATH": copy_index(live_service.settings.chroma_path,
                                            work / "chroma"),
        "AI_ASSIST_GEMINI_BASE_URL": emulator.url, "AI_ASSIST_REDIS_URL": redis.redis_url,
        "AI_ASSIST_CACHE_ENABLED": "true", "AI_ASSIST_RATE_LIMIT_PER_MINUTE": "100000",
        "AI_ASSIST_RATE_LIMIT_BURST": "100000"})
    frozen_s = float(os.environ.get("AI_ASSIST_TEST_FREEZE_S", "12"))
    statuses: list[int] = []
    deepest = 0
    try:
        assert requests.post(f"{service.url}/v1/esg/map", json={"text": SCOPE1},
                             timeout=10).status_code == 200
        os.kill(redis.proc.pid, signal.SIGSTOP)
        start = time.monotonic()
        stop = threading.Event()

        def send(client: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                statuses.append(requests.post(f"{service.url}/v1/esg/map", json={
                    "text": f"{SCOPE1} ({client}, {n})"}, timeout=10).status_code)
                stop.wait(0.3)

        senders = [threading.Thread(target=send, args=(n,)) for n in range(CLIENTS)]
        for sender in senders:
            sender.start()
        while time.monotonic() - start < frozen_s:
            deepest = max(deepest, accept_queue(redis.port))
            time.sleep(0.2)  # a sampling period, not a wait for an outcome
        stop.set()
        for sender in senders:
            sender.join(15)
        deepest = max(deepest, accept_queue(redis.port))
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)
    try:
        sent = len(statuses)
        assert set(statuses) == {200} and sent >= frozen_s
        # one backoff for the limiter and the cache; until the first call to the frozen
        # Redis has timed out, each client's request in flight may open a connection too
        allowed = tries_allowed(frozen_s) + CLIENTS - 1
        print(f"frozen {frozen_s:g} s: {sent} requests, at most {deepest} connections "
              f"in Redis's accept queue (backoff allows {allowed})")
        assert deepest <= allowed, f"{deepest} connections queued for {sent} requests"
        assert deepest < sent / 2
        # after SIGCONT the service is back on Redis within the backoff's cap
        wait_until(lambda: requests.post(f"{service.url}/v1/esg/map", json={
            "text": SCOPE1}, timeout=10).headers.get("X-Cache") == "hit",
            CAP_S * 3, "a cache hit from the thawed Redis")
    finally:
        service.stop()
        redis.stop()


# --- admin-key attempts ----------------------------------------------------------------
async def test_failed_admin_key_attempts_are_counted_and_limited():
    """The route alone (no model needed), from two addresses: after MAX_AUTH_FAILURES
    wrong keys from one, it gets 429 even with the right key; the other is unaffected."""
    from opentelemetry import trace

    proxy = trace.get_tracer_provider()
    serving = getattr(proxy, "target", None)  # the app below never runs its lifespan,
    app = create_app(Settings(admin_api_key=ADMIN_KEY))  # which would give it back
    metrics = app.state.service.metrics.registry

    async def attempt(key: str, peer: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            return await client.post("/admin/profile?seconds=0",
                                     headers={"Authorization": f"Bearer {key}"})

    codes = [(await attempt(f"wrong-{i}", "198.51.100.7")).status_code
             for i in range(MAX_AUTH_FAILURES)]
    assert codes == [401] * MAX_AUTH_FAILURES
    locked = await attempt(ADMIN_KEY, "198.51.100.7")  # the right key, too late
    assert locked.status_code == 429 and locked.json()["error"] == "too_many_failed_attempts"
    assert 1 <= int(locked.headers["Retry-After"]) <= 61
    # another address is not locked out: its right key gets through the check (400:
    # seconds=0 is out of range, which is only looked at after the key)
    assert (await attempt(ADMIN_KEY, "198.51.100.8")).status_code == 400
    assert metrics.get_sample_value("ai_assist_admin_auth_failures_total",
                                    {"outcome": "refused"}) == MAX_AUTH_FAILURES
    assert metrics.get_sample_value("ai_assist_admin_auth_failures_total",
                                    {"outcome": "locked_out"}) == 1
    if serving is not None:
        proxy.target = serving


# --- Gemini's error bodies -------------------------------------------------------------
def test_gemini_error_bodies_are_logged_without_the_passage(live_service, emulator,
                                                            tmp_path_factory):
    """The emulator's 400 quotes the passage, as Gemini's INVALID_ARGUMENT does; the
    service's logs and spans keep the code and status, never the words."""
    work = tmp_path_factory.mktemp("error-bodies")
    chroma = copy_index(live_service.settings.chroma_path, work / "chroma")
    secret = "Xylophonic-Quarry-Ledger-7731"
    with running_service(work, emulator.url, chroma_path=chroma) as service:
        answer = requests.post(f"{service.url}/v1/esg/map", json={
            "text": f"{SCOPE1} {secret} [[emulate:400]]"}, timeout=60)
        assert answer.status_code == 200 and answer.json()["fallback_reason"] == "client_error"
        # the emulator really quoted it
        direct = requests.post(f"{emulator.url}/v1beta/models/gemini-2.5-flash:"
                               "generateContent", headers={"x-goog-api-key": "k"}, json={
                                   "contents": [{"parts": [{"text": f"{secret} "
                                                                    "[[emulate:400]]"}]}]},
                               timeout=10)
        assert direct.status_code == 400 and secret in direct.text
        logged = "\n".join(service.logs.lines)
        assert secret not in logged
        assert "HTTP 400 INVALID_ARGUMENT" in logged
        spans = service.spans.get_finished_spans()
        for span in spans:
            assert secret not in json.dumps(dict(span.attributes), default=str)
            for event in span.events:
                assert secret not in json.dumps(dict(event.attributes), default=str)


# --- shutdown during a profile --------------------------------------------------------------
def test_sigterm_during_a_profile_ends_it_cleanly(process):
    """A 30 s profile, then SIGTERM: the answer is the profile so far (200, marked cut
    short), the process exits, and no error line (uvicorn's or ours) is logged."""
    result: dict = {}

    def profile() -> None:
        result["response"] = requests.post(
            f"{process.url}/admin/profile?seconds=30&format=collapsed",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60)

    client = threading.Thread(target=profile)
    client.start()
    wait_until(lambda: '"admin_profile_started"' in process.log_text(), 20,
               "the profile started")
    time.sleep(1.5)  # some samples: a recording, not the wait for an outcome
    process.proc.send_signal(signal.SIGTERM)
    client.join(30)
    response = result["response"]
    assert response.status_code == 200, response.text[:300]
    assert response.headers["X-Profile-Cut-Short"] == "shutdown"
    assert response.content  # the stacks recorded so far
    process.proc.wait(30)
    lines = process.log_lines()
    errors = [line for line in lines if '"level": "error"' in line
              or '"level": "critical"' in line or "Traceback" in line
              or "Cancel " in line or "Exception in ASGI" in line]
    assert not errors, errors
    assert any('"admin_profile_completed"' in line and '"shutdown"' in line
               for line in lines)
