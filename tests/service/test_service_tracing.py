"""A span per stage under the request's span; Gemini spans follow the GenAI conventions."""

from __future__ import annotations

import pytest
import requests

from ai_assist.samples import SCOPE1
from tests.conftest import running_service


@pytest.fixture(scope="module")
def traced(emulator, tmp_path_factory):
    with running_service(tmp_path_factory.mktemp("traces"), emulator.url) as service:
        service.spans.clear()
        before = emulator.stats()["tokens"]
        response = requests.post(f"{service.url}/v1/esg/map", timeout=60, json={
            "text": f"{SCOPE1} [[emulate:503*1]]"},
            headers={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
        assert response.status_code == 200
        # what the emulator billed: the 503 nothing, so all of it the successful call's
        billed = {t: n - before[t] for t, n in emulator.stats()["tokens"].items()}
        yield service, service.spans.get_finished_spans(), billed


def by_name(spans, name):
    return [s for s in spans if s.name == name]


def test_each_stage_is_a_span_under_the_request(traced):
    _, spans, _ = traced
    server = by_name(spans, "POST /v1/esg/map")[0]
    assert format(server.context.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert server.parent.span_id == 0x00f067aa0ba902b7  # continued the caller's trace
    mapping = by_name(spans, "esg_mapping")[0]
    assert mapping.parent.span_id == server.context.span_id
    for stage in ("embedding", "vector_search", "llm"):
        [span] = by_name(spans, stage)
        assert span.parent.span_id == mapping.context.span_id, stage
    llm = by_name(spans, "llm")[0]
    assert [s.parent.span_id for s in by_name(spans, "json_parsing")] == [llm.context.span_id]


def test_gemini_attempts_carry_genai_attributes(traced):
    _, spans, billed = traced
    attempts = [s for s in spans if s.name.startswith("chat ")]
    assert len(attempts) == 2  # one 503, one success
    llm = by_name(spans, "llm")[0]
    assert all(a.parent.span_id == llm.context.span_id for a in attempts)
    failed, ok = sorted(attempts, key=lambda s: s.start_time)
    for span in attempts:
        assert span.attributes["gen_ai.operation.name"] == "chat"
        assert span.attributes["gen_ai.request.model"] == "gemini-2.5-flash"
    assert "error.type" in failed.attributes
    assert ok.attributes["gen_ai.usage.input_tokens"] == billed["prompt"] > 0
    # thinking is billed as output (OpenAI's reasoning tokens are counted the same way)
    assert ok.attributes["gen_ai.usage.output_tokens"] == \
        billed["output"] + billed["thinking"] > 0


def test_tracing_on_exports_over_otlp_with_the_same_code_path(tmp_path, emulator):
    """With tracing on, spans go to an OTLP/HTTP collector (a real HTTP server here)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    collector = HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{collector.server_port}"
    try:
        with running_service(tmp_path, emulator.url, tracing_enabled=True,
                             otlp_endpoint=endpoint) as service:
            requests.post(f"{service.url}/v1/esg/map", json={"text": SCOPE1}, timeout=60)
        # the provider is shut down (flushed) when the app stops
        assert received and all(path == "/v1/traces" for path, _ in received)
        assert any(b"esg_mapping" in body for _, body in received)
    finally:
        collector.shutdown()


def test_a_sample_ratio_records_a_share_of_traces_and_links_only_those(tmp_path, emulator):
    """AI_ASSIST_TRACING_SAMPLE_RATIO: a caller's decision is followed, and exemplars
    name only recorded traces (an exemplar of an unrecorded trace would link to nothing)."""
    kept, dropped = "0af7651916cd43dd8448eb211c80319c", "5b8efff798038103d269b633813fc60c"
    with running_service(tmp_path, emulator.url, tracing_sample_ratio=0.5) as service:
        for trace_id, flags in ((kept, "01"), (dropped, "00")):
            response = requests.post(
                f"{service.url}/v1/esg/map", json={"text": SCOPE1}, timeout=60,
                headers={"traceparent": f"00-{trace_id}-b7ad6b7169203331-{flags}"})
            assert response.status_code == 200
        recorded = {format(s.context.trace_id, "032x") for s in service.spans.get_finished_spans()}
        exposition = requests.get(f"{service.url}/metrics", timeout=10, headers={
            "Accept": "application/openmetrics-text; version=1.0.0"}).text
    assert kept in recorded and dropped not in recorded
    assert f'trace_id="{kept}"' in exposition
    assert f'trace_id="{dropped}"' not in exposition
