"""AI_ASSIST_METRICS_ENABLED=false and AI_ASSIST_TRACING_ENABLED=false do what they say:
nothing is recorded (the registry the app was given stays empty, /metrics answers 404)
and no SDK tracer provider records spans on the request path, while the service answers
as it does with both on."""

from __future__ import annotations

import json

import pytest
import requests
from ai_assist.app import create_app
from ai_assist.samples import SAMPLES
from ai_assist.telemetry import metrics as M
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from tests.conftest import LogSink, make_settings, serve
from tests.harness.processes import free_port, wait_until

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def quiet_service(emulator, tmp_path_factory):
    """The service with metrics and tracing off, given its own registry and log sink."""
    registry, logs = CollectorRegistry(), LogSink()
    app = create_app(make_settings(tmp_path_factory.mktemp("quiet"), emulator.url,
                                   metrics_enabled=False, tracing_enabled=False),
                     registry=registry, log_stream=logs)
    provider = trace.get_tracer_provider()
    port = free_port()
    server, thread = serve(app, port)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(f"{url}/readyz", timeout=2).status_code == 200, 120,
               "service ready")
    try:
        yield url, app, registry, logs, provider
    finally:
        server.should_exit = True
        thread.join(15)


def _map(url: str, n: int, headers=None) -> None:
    for i in range(n):
        response = requests.post(f"{url}/v1/esg/map", json={"text": SAMPLES[i][1]},
                                 headers=headers, timeout=30)
        assert response.status_code == 200, response.text


def test_metrics_off_records_nothing_and_metrics_answers_404(quiet_service):
    url, app, registry, _, _ = quiet_service
    _map(url, 3)
    assert requests.post(f"{url}/v1/esg/map", json={"text": ""}, timeout=10).status_code == 422
    response = requests.get(f"{url}/metrics", timeout=5)
    assert response.status_code == 404 and response.json()["error"] == "metrics_disabled"
    assert list(registry.collect()) == []  # not one collector, not one sample
    assert app.state.service.metrics.recording is False


def test_metrics_off_still_names_every_catalogue_metric():
    off = M.Metrics(CollectorRegistry(), recording=False)
    for definition in M.CATALOGUE:
        off[definition.name].labels("x").observe(1.0)  # callable, records nothing
    assert list(off.registry.collect()) == []


def test_tracing_off_installs_no_sdk_provider(quiet_service):
    url, _, _, logs, provider = quiet_service
    assert getattr(provider, "target", provider).__class__ is trace.NoOpTracerProvider
    assert not isinstance(getattr(provider, "target", provider), TracerProvider)
    span = trace.get_tracer("probe").start_span("probe")
    assert not span.is_recording() and not span.get_span_context().is_valid
    # a caller's trace context still reaches the logs (the no-op tracer keeps the parent)
    _map(url, 1, headers={"traceparent": TRACEPARENT, "x-request-id": "quiet-1"})
    lines = [json.loads(line) for line in logs.lines]
    mine = [e for e in lines if e.get("request_id") == "quiet-1"]
    assert mine and {e.get("trace_id") for e in mine} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
