"""The request path holds its deadline under every Gemini failure (issue 8).

The service runs in this process over real HTTP against the Gemini emulator as a real
process; every check compares the service's /metrics (read before and after) with the
emulator's own counters (/_emulator/stats) and with what the client saw. Short settings
keep it fast: a 3 s request deadline and a 1 s Gemini timeout.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from ai_assist.mapping.breaker import CircuitBreaker
from ai_assist.samples import SAMPLES
from ai_assist.telemetry import metrics as M
from ai_assist.telemetry.tracing import SHUTDOWN_TIMEOUT_S
from tests.conftest import running_service
from tests.harness.processes import (
    Emulator, copy_index, emulator_stats, start_emulator, start_service, wait_until,
)

DEADLINE_S = 3.0
LLM_TIMEOUT_S = 1.0
SIGTERM_DEADLINE_S = 8.0
MARGIN_S = 1.0  # what a request may take beyond its deadline (HTTP, embedding, fallback)
TEXT = SAMPLES[2][1]
# Families whose every series is compared before / after: a case names all it moves.
WATCHED = (M.REQUESTS_TOTAL, M.FALLBACKS_TOTAL, M.GEMINI_RETRIES_TOTAL, M.GEMINI_CALLS_TOTAL,
           M.ERRORS_TOTAL, M.JSON_PARSE_TOTAL, "esg_mapping_request_duration_seconds_count",
           M.CIRCUIT_TRANSITIONS_TOTAL)


# -- helpers ------------------------------------------------------------------------
def k(name: str, **labels) -> str:
    return name + "{" + ",".join(f"{key}={value}" for key, value in sorted(labels.items())) + "}"


def scrape(url: str) -> dict[str, float]:
    """Every sample of /metrics, keyed like k() (the model and variant labels summed
    over)."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = {key: value for key, value in s.labels.items()
                      if key not in ("model", "variant")}
            out[k(s.name, **labels)] = out.get(k(s.name, **labels), 0.0) + s.value
    return out


def moved(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """The watched series that changed, and by how much."""
    return {key: after[key] - before.get(key, 0.0) for key in after
            if key.split("{")[0] in WATCHED and after[key] != before.get(key, 0.0)}


def post(url: str, text: str, top_k: int = 5, request_id: str | None = None
         ) -> tuple[requests.Response, float]:
    headers = {"X-Request-ID": request_id} if request_id else {}
    started = time.monotonic()
    response = requests.post(f"{url}/v1/esg/map", json={"text": text, "top_k": top_k},
                             headers=headers, timeout=30)
    return response, time.monotonic() - started


def calls(emulator) -> int:
    return emulator_stats(emulator)["calls"]


def restart_emulator(old: Emulator, log_dir: Path) -> Emulator:
    """The emulator again, on the same port: Gemini brought back."""
    return start_emulator(log_dir, port=int(old.url.rsplit(":", 1)[1]))


def index_copy(service, dest: Path) -> str:
    """A copy of a running service's ChromaDB index: a service started on it reuses it
    (same catalogue and model) instead of embedding the catalogue again."""
    return copy_index(service.settings.chroma_path, dest)


def fallback_moves(reason: str, error: str, severity: str) -> dict[str, float]:
    return {k(M.REQUESTS_TOTAL, status="fallback"): 1,
            k("esg_mapping_request_duration_seconds_count", status="fallback"): 1,
            k(M.FALLBACKS_TOTAL, reason=reason): 1,
            k(M.ERRORS_TOTAL, error_type=error, severity=severity): 1}


# -- fixtures -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def gemini(tmp_path_factory):
    holder = {"emulator": start_emulator(tmp_path_factory.mktemp("resilience-emulator"))}
    yield holder
    holder["emulator"].stop()


@pytest.fixture(scope="module")
def service(gemini, tmp_path_factory):
    """Breaker off, so every fault reaches Gemini; 3 retries; 3 s deadline. The retry
    budget for unusable answers is out of reach here, so each fault's retry path is seen
    whole (the matrix sends the garbage faults one after the other); the budget itself
    is proven in tests/service/test_unusable_answers.py."""
    with running_service(tmp_path_factory.mktemp("resilience"), gemini["emulator"].url,
                         request_deadline_s=DEADLINE_S, llm_timeout_s=LLM_TIMEOUT_S,
                         llm_max_retries=3, circuit_failure_threshold=0,
                         llm_unusable_retry_budget=1_000_000) as live:
        yield live


@pytest.fixture
def emu(gemini):
    gemini["emulator"].reset()
    return gemini["emulator"]


# -- the fault matrix ---------------------------------------------------------------
def _llm_failure(outcome: str, retry_reason: str, reason: str, error: str, severity: str,
                 parse: str | None = None) -> dict[str, float]:
    moves = {k(M.GEMINI_CALLS_TOTAL, outcome=outcome): 4,
             k(M.GEMINI_RETRIES_TOTAL, reason=retry_reason): 3,
             **fallback_moves(reason, error, severity)}
    if parse:
        moves[k(M.JSON_PARSE_TOTAL, result=parse)] = 4
    return moves


FAULTS = {
    # fault: (top_k, emulator calls, the exact movement of every watched series)
    "429": (5, 4, _llm_failure("rate_limited", "rate_limited", "rate_limited",
                               "GeminiRateLimitError", "WARNING")),
    "503": (5, 4, _llm_failure("server_error", "server_error", "server_error",
                               "GeminiAPIError", "CRITICAL")),
    "400": (5, 1, {k(M.GEMINI_CALLS_TOTAL, outcome="client_error"): 1,
                   **fallback_moves("client_error", "GeminiAPIError", "CRITICAL")}),
    "malformed": (5, 4, _llm_failure("ok", "invalid_json", "invalid_json",
                                     "InvalidLLMResponseError", "WARNING", parse="failed")),
    "empty": (5, 4, _llm_failure("ok", "empty_answer", "empty_answer",
                                 "InvalidLLMResponseError", "WARNING", parse="failed")),
    # cut inside its only match: the JSON is repaired (parsed) but nothing is left
    "truncated": (1, 4, _llm_failure("ok", "truncated", "truncated",
                                     "TokenLimitExceededError", "WARNING", parse="repaired")),
    # parsed JSON naming no candidate: not a parse failure
    "invented_all": (5, 4, _llm_failure("ok", "no_valid_match", "no_valid_match",
                                        "InvalidLLMResponseError", "WARNING", parse="valid")),
    # HTTP 200 whose body is not JSON: google-genai raises JSONDecodeError
    "not_json": (5, 4, _llm_failure("unexpected_error", "unexpected_error",
                                    "unexpected_error", "GeminiAPIError", "CRITICAL")),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_fault_is_answered_by_the_fallback_within_the_deadline(service, emu, fault):
    top_k, expected_calls, expected = FAULTS[fault]
    before, emulator_before = scrape(service.url), calls(emu)
    response, elapsed = post(service.url, f"{TEXT} [[emulate:{fault}]]", top_k)
    assert response.status_code == 200, response.text
    body = response.json()
    [reason] = [key.split("=")[1].rstrip("}") for key in expected
                if key.startswith(M.FALLBACKS_TOTAL)]
    assert body["fallback_used"] and body["fallback_reason"] == reason and body["matches"]
    assert elapsed < DEADLINE_S + MARGIN_S, elapsed
    assert calls(emu) - emulator_before == expected_calls
    assert moved(before, scrape(service.url)) == expected


@pytest.mark.parametrize("fault", ["timeout", "hang"])
def test_a_silent_gemini_costs_the_deadline_not_four_timeouts(service, emu, fault):
    before, emulator_before = scrape(service.url), calls(emu)
    response, elapsed = post(service.url, f"{TEXT} [[emulate:{fault}]]")
    assert response.status_code == 200
    assert response.json()["fallback_reason"] == "deadline_exceeded"
    # 4 x 1 s calls would take 4 s: the last one fits only cut short by the deadline
    assert DEADLINE_S - 0.6 <= elapsed < DEADLINE_S + 0.5, elapsed
    made = calls(emu) - emulator_before
    assert made in (2, 3), made  # the third starts only with >= 0.5 s left
    assert moved(before, scrape(service.url)) == {
        k(M.GEMINI_CALLS_TOTAL, outcome="timeout"): made,
        k(M.GEMINI_RETRIES_TOTAL, reason="timeout"): made - 1,
        **fallback_moves("deadline_exceeded", "DeadlineExceededError", "ERROR")}
    # every call the service gave up on was really abandoned at the emulator
    wait_until(lambda: emulator_stats(emu)["in_flight"] == 0, 5, "emulator in_flight == 0")
    assert emulator_stats(emu)["abandoned"] == made


def test_gemini_killed_then_brought_back(service, gemini, tmp_path):
    gemini["emulator"].stop()
    try:
        before = scrape(service.url)
        response, elapsed = post(service.url, f"{TEXT} down")
        assert response.status_code == 200 and elapsed < DEADLINE_S + MARGIN_S
        assert response.json()["fallback_reason"] == "connection_error"
        assert moved(before, scrape(service.url)) == _llm_failure(
            "connection_error", "connection_error", "connection_error", "GeminiAPIError",
            "CRITICAL")
    finally:
        gemini["emulator"] = restart_emulator(gemini["emulator"], tmp_path)
    before = scrape(service.url)
    response, _ = post(service.url, f"{TEXT} back")
    assert response.status_code == 200 and not response.json()["fallback_used"]
    assert calls(gemini["emulator"]) == 1
    assert moved(before, scrape(service.url)) == {
        k(M.REQUESTS_TOTAL, status="success"): 1,
        k("esg_mapping_request_duration_seconds_count", status="success"): 1,
        k(M.GEMINI_CALLS_TOTAL, outcome="ok"): 1, k(M.JSON_PARSE_TOTAL, result="valid"): 1}


# -- client disconnects -------------------------------------------------------------
def test_a_client_that_leaves_cancels_its_gemini_calls(service, emu):
    before, emulator_before = scrape(service.url), calls(emu)
    port = int(service.url.rsplit(":", 1)[1])
    body = json.dumps({"text": f"{TEXT} [[emulate:hang]]"})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/v1/esg/map", body, {"Content-Type": "application/json",
                                                     "X-Request-ID": "leaver-1"})
    wait_until(lambda: emulator_stats(emu)["in_flight"] == 1, 5, "the Gemini call in flight")
    left_at = time.monotonic()
    connection.sock.close()  # the client goes away mid-call
    connection.close()
    # the call in flight is abandoned at once, not at its 1 s timeout
    wait_until(lambda: emulator_stats(emu)["abandoned"] == 1, LLM_TIMEOUT_S, "call abandoned",
               interval=0.02)
    wait_until(lambda: scrape(service.url)[k(M.REQUESTS_TOTAL, status="cancelled")]
               > before[k(M.REQUESTS_TOTAL, status="cancelled")], 5, "cancelled counted")
    # watch until the request's deadline is long past: no retry, no new call, ever
    wait_until(lambda: time.monotonic() > left_at + DEADLINE_S + 0.5 and
               emulator_stats(emu)["calls"] == emulator_before + 1, DEADLINE_S + 5,
               "the window where retries would have run")
    assert calls(emu) == emulator_before + 1
    assert moved(before, scrape(service.url)) == {
        k(M.REQUESTS_TOTAL, status="cancelled"): 1,
        k(M.GEMINI_CALLS_TOTAL, outcome="cancelled"): 1}  # no fallback, no error
    lines = [json.loads(line) for line in service.logs.lines if '"leaver-1"' in line]
    assert [line["event"] for line in lines].count("request_cancelled") == 1
    assert service.sample(M.IN_PROGRESS) == 0 and service.sample(M.GEMINI_IN_FLIGHT) == 0


# -- the circuit breaker ------------------------------------------------------------
BREAKER_THRESHOLD, COOLDOWN_S = 3, 1.0


@pytest.fixture(scope="module")
def breaker_service(gemini, service, tmp_path_factory):
    work = tmp_path_factory.mktemp("breaker")
    index_copy(service, work / "chroma")
    with running_service(work, gemini["emulator"].url,
                         request_deadline_s=DEADLINE_S, llm_timeout_s=LLM_TIMEOUT_S,
                         llm_max_retries=0, circuit_failure_threshold=BREAKER_THRESHOLD,
                         circuit_cooldown_s=COOLDOWN_S) as live:
        yield live


def _state(service) -> float:
    return scrape(service.url)[k(M.CIRCUIT_STATE)]


def _open_breaker(service, emu) -> None:
    for n in range(BREAKER_THRESHOLD):
        assert post(service.url, f"{TEXT} [[emulate:503]] open {n}")[0].json()[
            "fallback_reason"] == "server_error"
    assert _state(service) == 2


def _transitions(before, after) -> dict[str, float]:
    return {key: value for key, value in moved(before, after).items()
            if key.startswith(M.CIRCUIT_TRANSITIONS_TOTAL)}


def test_the_breaker_opens_short_circuits_half_opens_and_closes(breaker_service, emu):
    svc = breaker_service
    assert _state(svc) == 0
    before, emulator_before = scrape(svc.url), calls(emu)
    _open_breaker(svc, emu)
    assert calls(emu) - emulator_before == BREAKER_THRESHOLD

    # open: answered by the fallback at once, and Gemini's call counter stands still
    opened = scrape(svc.url)
    for n in range(3):
        response, elapsed = post(svc.url, f"{TEXT} [[emulate:503]] short {n}")
        assert response.json()["fallback_reason"] == "circuit_open" and elapsed < 1.0
    assert calls(emu) - emulator_before == BREAKER_THRESHOLD
    assert moved(opened, scrape(svc.url)) == {
        k(M.REQUESTS_TOTAL, status="fallback"): 3,
        k("esg_mapping_request_duration_seconds_count", status="fallback"): 3,
        k(M.FALLBACKS_TOTAL, reason="circuit_open"): 3,
        k(M.ERRORS_TOTAL, error_type="GeminiCircuitOpenError", severity="WARNING"): 3}
    health = requests.get(f"{svc.url}/health", timeout=30).json()
    assert health["status"] == "degraded" and not health["checks"]["gemini_api"]["ok"]
    assert "circuit breaker open" in health["checks"]["gemini_api"]["detail"]
    assert svc.sample(M.HEALTH_STATUS, component="gemini_api") == 0

    # after the cool-down: half-open, and exactly one probe goes through
    wait_until(lambda: _state(svc) == 1, COOLDOWN_S + 5, "half-open")
    with ThreadPoolExecutor(1) as pool:
        probe = pool.submit(post, svc.url, f"{TEXT} [[emulate:hang]] probe")
        wait_until(lambda: emulator_stats(emu)["in_flight"] == 1, 5, "the probe in flight")
        response, elapsed = post(svc.url, f"{TEXT} while probing")
        assert response.json()["fallback_reason"] == "circuit_open" and elapsed < 1.0
        assert calls(emu) - emulator_before == BREAKER_THRESHOLD + 1  # the probe only
        probe_response, _ = probe.result()
    assert probe_response.json()["fallback_reason"] == "timeout"
    assert _state(svc) == 2  # the probe failed: open again

    # the next probe succeeds: closed, and requests reach Gemini again
    wait_until(lambda: _state(svc) == 1, COOLDOWN_S + 5, "half-open again")
    response, _ = post(svc.url, f"{TEXT} healthy again")
    assert not response.json()["fallback_used"]
    assert _state(svc) == 0
    assert calls(emu) - emulator_before == BREAKER_THRESHOLD + 2
    assert _transitions(before, scrape(svc.url)) == {
        k(M.CIRCUIT_TRANSITIONS_TOTAL, state="open"): 2,
        k(M.CIRCUIT_TRANSITIONS_TOTAL, state="half_open"): 2,
        k(M.CIRCUIT_TRANSITIONS_TOTAL, state="closed"): 1}
    health = requests.get(f"{svc.url}/health", timeout=30).json()
    assert health["checks"]["gemini_api"]["ok"], health


def test_breaker_state_machine_with_a_fake_clock():
    now = [0.0]
    metrics = M.Metrics(CollectorRegistry())
    breaker = CircuitBreaker(2, 10.0, metrics, clock=lambda: now[0])

    def gauge():
        return metrics.registry.get_sample_value(M.CIRCUIT_STATE)

    assert breaker.acquire() is False and gauge() == 0
    breaker.failed(False)
    breaker.released(False)           # a 4xx: neutral, the streak stays at 1
    breaker.failed(False)
    assert breaker.state == "open" and gauge() == 2 and breaker.acquire() is None
    now[0] = 9.9
    assert breaker.refuses()
    now[0] = 10.0
    assert gauge() == 1 and breaker.acquire() is True  # the one probe
    assert breaker.acquire() is None and breaker.refuses()  # nobody else
    breaker.released(True)            # the probe's client left: slot free again
    assert breaker.acquire() is True
    breaker.succeeded(True)
    assert breaker.state == "closed" and gauge() == 0
    off = CircuitBreaker(0, 1.0, M.Metrics(CollectorRegistry()))
    for _ in range(100):
        off.failed(False)
    assert off.state == "closed" and off.acquire() is False


# -- the concurrency bound ----------------------------------------------------------
MAX_CONCURRENCY = 2


@pytest.fixture(scope="module")
def bounded_service(gemini, service, tmp_path_factory):
    """Two Gemini slots; a call may take the whole deadline (timeout above it)."""
    work = tmp_path_factory.mktemp("bounded")
    index_copy(service, work / "chroma")
    with running_service(work, gemini["emulator"].url,
                         request_deadline_s=DEADLINE_S, llm_timeout_s=DEADLINE_S + 2,
                         llm_max_retries=0, circuit_failure_threshold=0,
                         llm_max_concurrency=MAX_CONCURRENCY) as live:
        yield live


def test_waiting_for_a_gemini_slot_ends_at_the_deadline(bounded_service, emu):
    svc = bounded_service
    before, emulator_before = scrape(svc.url), calls(emu)
    peaks = {"gauge": 0.0, "emulator": 0}
    done = threading.Event()

    def watch():
        while not done.is_set():
            peaks["gauge"] = max(peaks["gauge"], svc.sample(M.GEMINI_IN_FLIGHT))
            peaks["emulator"] = max(peaks["emulator"], emulator_stats(emu)["in_flight"])
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with ThreadPoolExecutor(4) as pool:
        holders = [pool.submit(post, svc.url, f"{TEXT} [[emulate:hang]] holder {n}")
                   for n in range(MAX_CONCURRENCY)]
        wait_until(lambda: svc.sample(M.GEMINI_IN_FLIGHT) == MAX_CONCURRENCY, 10,
                   "both slots taken")
        waiters = [pool.submit(post, svc.url, f"{TEXT} waiter {n}") for n in range(2)]
        results = [f.result() for f in holders + waiters]
    done.set()
    watcher.join()
    reasons = [r.json()["fallback_reason"] for r, _ in results]
    assert reasons == ["deadline_exceeded"] * 2 + ["overloaded"] * 2
    assert all(elapsed < DEADLINE_S + MARGIN_S for _, elapsed in results)
    assert peaks["gauge"] == MAX_CONCURRENCY and peaks["emulator"] == MAX_CONCURRENCY
    assert calls(emu) - emulator_before == MAX_CONCURRENCY  # the waiters never called
    after = scrape(svc.url)
    assert moved(before, after) == {
        k(M.REQUESTS_TOTAL, status="fallback"): 4,
        k("esg_mapping_request_duration_seconds_count", status="fallback"): 4,
        k(M.GEMINI_CALLS_TOTAL, outcome="timeout"): 2,
        k(M.FALLBACKS_TOTAL, reason="deadline_exceeded"): 2,
        k(M.FALLBACKS_TOTAL, reason="overloaded"): 2,
        k(M.ERRORS_TOTAL, error_type="DeadlineExceededError", severity="ERROR"): 2,
        k(M.ERRORS_TOTAL, error_type="LLMOverloadedError", severity="WARNING"): 2}
    wait = M.GEMINI_CONCURRENCY_WAIT
    assert after[k(wait + "_count")] - before[k(wait + "_count")] == 4
    # the waiters waited until the deadline left less than a useful call's time
    assert after[k(wait + "_bucket", le="1.0")] - before[k(wait + "_bucket", le="1.0")] == 2
    assert svc.sample(M.GEMINI_IN_FLIGHT) == 0


# -- shutdown -----------------------------------------------------------------------
def test_sigterm_with_requests_in_flight_exits_within_the_deadline(service, emu, tmp_path):
    # a trace collector that takes connections and never answers: the worst kind of down
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(64)
    dead_collector = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
    chroma = index_copy(service, tmp_path / "chroma")
    # all eight must be at Gemini at once: on a loaded machine embedding eight texts can
    # take more than the other tests' 3 s, so these requests get a longer deadline
    deadline_s = SIGTERM_DEADLINE_S
    service = start_service(tmp_path, {"AI_ASSIST_CHROMA_PATH": str(chroma),
        "AI_ASSIST_GEMINI_BASE_URL": emu.url, "AI_ASSIST_REQUEST_DEADLINE_S": str(deadline_s),
        "AI_ASSIST_LLM_TIMEOUT_S": "30", "AI_ASSIST_RATE_LIMIT_PER_MINUTE": "0",
        "AI_ASSIST_TRACING_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": dead_collector})
    try:
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(post, service.url, f"{TEXT} [[emulate:hang]] {n}")
                       for n in range(8)]
            wait_until(lambda: emulator_stats(emu)["in_flight"] == 8, 20, "8 calls hanging")
            signalled = time.monotonic()
            service.proc.send_signal(signal.SIGTERM)
            service.proc.wait(deadline_s + SHUTDOWN_TIMEOUT_S + 30)
            exited = time.monotonic() - signalled
            answers = [f.result()[0] for f in futures]
        # the requests end at their deadline, then the trace flush to the dead collector
        # is cut at its own bound
        assert exited <= deadline_s + SHUTDOWN_TIMEOUT_S + MARGIN_S, exited
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert service.proc.returncode in (0, -signal.SIGTERM)
        events = [json.loads(line).get("event") for line in service.log_lines()
                  if line.startswith("{")]
        assert "service_stopped" in events and "Application shutdown complete." in events
        # in-flight requests were answered (by the fallback) before the exit
        assert [a.json()["fallback_reason"] for a in answers] == ["deadline_exceeded"] * 8
    finally:
        service.stop()
        blackhole.close()
