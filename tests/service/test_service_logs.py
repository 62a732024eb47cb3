"""Every log line is JSON with the DESIGN.md fields; the submitted text never appears."""

from __future__ import annotations

import json

import pytest
import requests

from ai_assist.samples import SAMPLES
from tests.conftest import running_service

SECRET_PHRASE = "Confidential passage about quarterly methane leaks at plant Zeta-9"
REQUIRED = {"timestamp", "level", "event", "service", "environment", "version"}


@pytest.fixture(scope="module")
def logged(emulator, tmp_path_factory):
    with running_service(tmp_path_factory.mktemp("logs"), emulator.url) as service:
        post = lambda body, **kw: requests.post(f"{service.url}/v1/esg/map", json=body,
                                                timeout=60, **kw)
        post({"text": SECRET_PHRASE, "company_id": "acme-kr", "user_id": "u-17"},
             headers={"X-Request-ID": "req-logs-1"})
        post({"text": f"{SECRET_PHRASE} [[emulate:503]]", "company_id": "acme-kr"},
             headers={"X-Request-ID": "req-logs-2"})
        post({"text": "   "}, headers={"X-Request-ID": "req-logs-3"})
        post({"text": SAMPLES[9][1]})
        yield service, [json.loads(line) for line in list(service.logs.lines)]


def test_every_line_is_json_with_the_common_fields(logged):
    service, events = logged
    assert len(events) == len(service.logs.lines) > 5
    for event in events:
        assert REQUIRED <= set(event), event
        assert event["service"] == "ai-assist"
        assert event["timestamp"].endswith("Z") or event["timestamp"].endswith("+00:00")
        assert event["level"] in {"debug", "info", "warning", "error", "critical"}


def test_request_lines_carry_request_id_trace_context_and_caller(logged):
    _, events = logged
    lines = [e for e in events if e.get("request_id") == "req-logs-1"]
    names = {e["event"] for e in lines}
    assert {"esg_mapping_started", "esg_mapping_completed", "request_completed"} <= names
    for event in lines:
        assert len(event["trace_id"]) == 32 and len(event["span_id"]) == 16
    assert len({e["trace_id"] for e in lines}) == 1
    started = next(e for e in lines if e["event"] == "esg_mapping_started")
    assert started["company_id"] == "acme-kr" and started["user_id"] == "u-17"
    assert started["text_length"] == len(SECRET_PHRASE) and len(started["text_sha256"]) == 16


def test_the_submitted_text_is_never_logged(logged):
    service, _ = logged
    everything = "\n".join(service.logs.lines)
    assert "methane leaks" not in everything
    assert SAMPLES[9][1][:12] not in everything


def test_errors_carry_type_severity_and_stack_trace(logged):
    _, events = logged
    errors = [e for e in events if e.get("request_id") == "req-logs-2"
              and e["event"] == "ai_error_occurred"]
    assert len(errors) == 1
    error = errors[0]
    assert error["level"] == "error"
    assert error["error_type"] == "GeminiAPIError" and error["severity"] == "CRITICAL"
    assert error["exception"], "stack trace missing"


def test_rejections_are_logged_as_warnings(logged):
    _, events = logged
    rejected = [e for e in events if e.get("request_id") == "req-logs-3"
                and e["event"] == "request_rejected"]
    assert rejected and rejected[0]["reason"] == "empty_text"
    assert rejected[0]["level"] == "warning"


def test_console_format_for_development():
    import io

    from ai_assist.telemetry.logging import configure_logging, get_logger

    stream = io.StringIO()
    configure_logging("INFO", "console", "dev", "1.0.0", stream=stream)
    get_logger("t").info("hello_console", answer=42)
    line = stream.getvalue()
    assert "hello_console" in line and "answer=42" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
