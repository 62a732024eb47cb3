"""Shared fixtures: the real Gemini emulator, the service in-process (served over real
HTTP by uvicorn, with spans and logs captured), and the stack with traffic; and each
test's marker from its folder (unit/, service/, stack/)."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import uvicorn
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ai_assist.app import create_app
from ai_assist.config import Settings
from observability.sli import REQUEST_RATE
from tests.harness.processes import free_port, start_emulator, wait_until


TESTS_DIR = Path(__file__).resolve().parent
# A test's kind is its folder: unit/ starts no server, service/ the emulator, the service
# or Redis, stack/ Prometheus or Alertmanager. `-m stack`, `-m service`, `-m "not stack"`.
MARKED_FOLDERS = ("service", "stack")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items):
    for item in items:
        folder = item.path.relative_to(TESTS_DIR).parts[0]
        if folder in MARKED_FOLDERS:
            item.add_marker(folder)


def pytest_terminal_summary(terminalreporter):
    from tests.harness.panels import COVERAGE

    if COVERAGE:
        terminalreporter.section("coverage of the proofs")
        for line in COVERAGE:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    emulator = start_emulator(tmp_path_factory.mktemp("emulator"))
    yield emulator
    emulator.stop()


class LogSink:
    """A thread-safe stream that keeps every line the service logs."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._partial = ""
        self._lock = threading.Lock()

    def write(self, data: str) -> int:
        with self._lock:
            self._partial += data
            *complete, self._partial = self._partial.split("\n")
            self.lines.extend(line for line in complete if line)
        return len(data)

    def flush(self) -> None:
        pass


@dataclass
class LiveService:
    url: str
    app: object
    spans: InMemorySpanExporter
    logs: LogSink

    @property
    def state(self):
        return self.app.state.service

    @property
    def settings(self) -> Settings:
        return self.state.settings

    def sample(self, name: str, **labels) -> float:
        """The sum of the samples of `name` whose labels include `labels` (labels not
        named, such as `variant`, are summed over, as PromQL's sum by would)."""
        return sample_sum(self.state.metrics.registry, name, **labels)


def sample_sum(registry, name: str, **labels) -> float:
    return sum(s.value for family in registry.collect() for s in family.samples
               if s.name == name and s.labels.items() >= labels.items())


def serve(app, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    # proxy_headers off as in `python -m ai_assist`: the app alone decides whom to trust
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="on",
                                           proxy_headers=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, thread


def make_settings(tmp_path: Path, emulator_url: str, **overrides) -> Settings:
    # The circuit breaker is off: tests send faults back to back and expect each one to
    # reach Gemini; tests/service/test_resilience.py turns it on where it is the subject.
    base = Settings(gemini_base_url=emulator_url, chroma_path=str(tmp_path / "chroma"),
                    llm_timeout_s=1.0, llm_backoff_s=0.01, rate_limit_per_minute=0,
                    embedding_max_wait_ms=2, circuit_failure_threshold=0)
    return base.with_(**overrides)


@contextmanager
def running_service(tmp_path: Path, emulator_url: str, **overrides):
    """The service app in this process, served over real HTTP, spans and logs captured.

    Logging and the tracer provider are process-wide, so the most recently started app
    owns them: a test that reads logs or spans uses the app it started itself."""
    spans = InMemorySpanExporter()
    logs = LogSink()
    app = create_app(make_settings(tmp_path, emulator_url, **overrides),
                     span_processors=(SimpleSpanProcessor(spans),), log_stream=logs)
    port = free_port()
    server, thread = serve(app, port)
    url = f"http://127.0.0.1:{port}"

    def ready():
        if app.state.service.startup_error:
            pytest.fail(app.state.service.startup_error)
        return requests.get(f"{url}/readyz", timeout=2).status_code == 200

    try:
        wait_until(ready, 120, "service ready")
        yield LiveService(url, app, spans, logs)
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture(scope="session")
def live_service(emulator, tmp_path_factory):
    with running_service(tmp_path_factory.mktemp("service"), emulator.url) as service:
        yield service


STACK_SCRAPE_INTERVAL_S = 1.0
# Scrapes of zeroes before the traffic. rate() stretches each replica's sampled span by up
# to one scrape to the end of its window, so a ratio across replicas is off by up to one
# scrape over the span: a long flat lead-in keeps that under 3 %.
STACK_LEAD_IN_SCRAPES = 40
# Fixed token counts from the emulator, so the token panels have a known truth; part of
# each prompt is reported as served from Gemini's context cache (billed at its own price).
STACK_USAGE = {"prompt_tokens": 1500, "output_tokens": 300, "thinking_tokens": 120,
               "cached_tokens": 400}


# The A/B experiment both replicas run (tests/stack/test_experiments_report.py reads its
# report): 6 candidates against the default 12. The emulator plants the difference:
# confidences 0.02 lower per candidate under 12 (0.12 lower in "six", less where the
# emulator's 0.97 cap held the control's; TCFD-only requests of the mix get 11 candidates,
# so 0.02 lower). The mix's traffic names no company and all comes from one client
# (127.0.0.1), which this name puts in "control"; traffic naming companies that the
# assignment puts in "six" then brings it to its share (tests/harness/traffic.py,
# drive_experiment). A small share keeps the added requests few, so the other proofs'
# traffic mix keeps its contrasts (tests/harness/mutations.py).
STACK_EXPERIMENT = {"name": "stack-candidates",
                    "variants": [{"name": "control", "weight": 75},
                                 {"name": "six", "weight": 25, "candidates": 6}]}
STACK_CONFIDENCE_PER_MISSING_CANDIDATE = 0.02


@dataclass
class StackWithTraffic:
    prom: object  # tests.harness.prom.PromHandle
    traffic: object  # tests.harness.traffic.Tally
    scrape_interval_s: float
    lead_in_s: float  # how long Prometheus held zeroes before the traffic
    query_time: float  # when every request of the traffic is in Prometheus
    log_lines: list[str]
    services: list
    emulator: object
    health: list = field(default_factory=list)  # each replica's /health after the traffic
    model: str = Settings().gemini_model  # the services run the default model
    experiment: dict = field(default_factory=lambda: STACK_EXPERIMENT)  # on every replica
    pause: object = None  # tests.harness.traffic.Pause: the traffic's pause, if it had one

    def query(self, expr: str) -> list:
        return self.prom.query(expr, at=self.query_time)


def _service_total(service, name: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(service.metrics_url, timeout=10).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name)


@pytest.fixture(scope="session")
def stack_with_traffic(tmp_path_factory):
    """Two service processes (fallback on, fallback off) behind one emulator, a real
    Prometheus scraping both every second with the generated rules, and a traffic mix
    that reaches every path. Yields once Prometheus holds every request."""
    from tests.harness.processes import start_service
    from tests.harness.prom import start_prometheus
    from tests.harness.traffic import (
        Tally, burst, drive_errors, drive_experiment, drive_latency_tail, drive_mix, pause,
        separate_fallbacks_from_errors,
    )

    root = Path(__file__).resolve().parents[1]
    work = tmp_path_factory.mktemp("stack")
    emulator = start_emulator(work)
    emulator.configure(**STACK_USAGE, confidence_per_missing_candidate=(
        STACK_CONFIDENCE_PER_MISSING_CANDIDATE))
    experiment_file = work / "experiment.json"
    experiment_file.write_text(json.dumps(STACK_EXPERIMENT))
    common = {"AI_ASSIST_GEMINI_BASE_URL": emulator.url, "AI_ASSIST_LLM_TIMEOUT_S": "1",
              "AI_ASSIST_LLM_BACKOFF_S": "0.01", "AI_ASSIST_CHROMA_PATH": str(work / "chroma"),
              # a breaker the traffic opens stays open while the proofs read it
              "AI_ASSIST_CIRCUIT_COOLDOWN_S": "3600"}
    services = []
    prom = None
    try:
        # The full replica's breaker is off: the latency tail's 429s come all at once
        # (tests/harness/traffic.py) and would open it (tests/service/test_resilience.py proves it)
        services.append(start_service(work, {**common, "AI_ASSIST_RATE_LIMIT_PER_MINUTE": "0",
                                             "AI_ASSIST_CIRCUIT_FAILURE_THRESHOLD": "0",
                                             "AI_ASSIST_EXPERIMENT_FILE": str(experiment_file)}))
        services.append(start_service(work, {**common, "AI_ASSIST_FALLBACK_ENABLED": "false",
                                             "AI_ASSIST_EXPERIMENT_FILE": str(experiment_file),
                                             "AI_ASSIST_RATE_LIMIT_PER_MINUTE": "60",
                                             "AI_ASSIST_RATE_LIMIT_BURST": "3"}))
        rules = sorted((root / "prometheus" / "rules").glob("*.yml"))
        prom = start_prometheus(work, [s.target for s in services], rule_files=rules,
                                scrape_interval=f"{STACK_SCRAPE_INTERVAL_S:g}s",
                                evaluation_interval=f"{STACK_SCRAPE_INTERVAL_S:g}s")
        # Prometheus must have seen the zeroes before the traffic, so rates start at 0.
        wait_until(lambda: len(prom.query("esg_mapping_requests_total")) >= 8, 60,
                   "first scrape of both services")
        lead_in_s = STACK_LEAD_IN_SCRAPES * STACK_SCRAPE_INTERVAL_S
        scrapes = f"count_over_time(up[{2 * lead_in_s:g}s])"
        wait_until(lambda: min([v for _, v in prom.query(scrapes)], default=0)
                   >= STACK_LEAD_IN_SCRAPES, 3 * lead_in_s, "the lead-in of zeroes")
        tally = Tally(tokens_per_call={"input": STACK_USAGE["prompt_tokens"],
                                       "output": STACK_USAGE["output_tokens"],
                                       "thinking": STACK_USAGE["thinking_tokens"],
                                       "cached_input": STACK_USAGE["cached_tokens"]})
        full, degraded = services
        drive_mix(full.url, tally, bad_requests=True)
        drive_errors(degraded.url, tally)
        burst(degraded.url, tally, requests_sent=6)  # past its rate limit of 3
        separate_fallbacks_from_errors(full.url, tally)
        # what follows (a tail of slow answers, the experiment's successes) has another mix
        # than the whole: a 5-minute window that starts in the pause holds only it
        cut = pause(prom, [s.target for s in services], tally, emulator,
                    STACK_SCRAPE_INTERVAL_S)
        # p95 and p99 in buckets of their own, sized for the experiment's top-up next
        drive_latency_tail(full.url, tally, emulator, STACK_EXPERIMENT)
        drive_experiment(full.url, tally, STACK_EXPERIMENT)
        # A probe reads each replica's health now, so the gauges hold still from here on.
        health = [requests.get(f"{s.url}/health", timeout=30).json() for s in services]
        tally.finished_at = time.time()
        expected = sum(_service_total(s, "esg_mapping_requests_total") for s in services)
        wait_until(lambda: sum(v for _, v in prom.query("sum(esg_mapping_requests_total)"))
                   == expected, 30, "Prometheus holding every request")
        query_time = time.time()
        wait_until(lambda: prom.query(REQUEST_RATE), 30, "recording rules")
        yield StackWithTraffic(
            prom=prom, traffic=tally, scrape_interval_s=STACK_SCRAPE_INTERVAL_S,
            query_time=query_time,
            lead_in_s=lead_in_s,
            log_lines=[line for s in services for line in s.log_lines()],
            services=services, emulator=emulator, health=health, pause=cut)
    finally:
        if prom is not None:
            prom.stop()
        for service in services:
            service.stop()
        emulator.stop()
