"""Every line the real service process prints, on stdout and on stderr, from start to
stop, is one JSON event with `level` and `event`. Loki's `| json` fails a metric query on
any other line (the dashboards filter such lines out, but they would still be lost), and
the weights-loading progress bar of transformers used to print one at every start."""

from __future__ import annotations

import json

import requests

from tests.harness.processes import start_emulator, start_service


def test_every_line_the_service_process_prints_is_a_json_event(tmp_path):
    with start_emulator(tmp_path) as emulator:
        # A new index directory: the start loads the weights and builds the index, as a new
        # container or replica does.
        service = start_service(tmp_path, {"AI_ASSIST_GEMINI_BASE_URL": emulator.url,
                                           "AI_ASSIST_CHROMA_PATH": str(tmp_path / "index")})
        try:
            response = requests.post(f"{service.url}/v1/esg/map", timeout=60, json={
                "text": "Our gross direct Scope 1 GHG emissions were 48,200 tCO2e."})
            assert response.status_code == 200, response.text
            assert requests.post(f"{service.url}/v1/esg/map", json={"text": " "},
                                 timeout=10).status_code == 422
        finally:
            service.stop()
    # stdout and stderr both go to this log; splitlines() also splits at a bare \r, as a
    # progress bar redraws itself.
    lines = [line for line in service.log_path.read_text().splitlines() if line.strip()]
    assert len(lines) > 5
    events = []
    for number, line in enumerate(lines, 1):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"line {number} is not JSON: {line[:200]!r}") from None
        assert isinstance(event, dict) and {"level", "event"} <= set(event), line[:200]
        events.append(event)
    names = [e["event"] for e in events]
    assert "service_ready" in names and "request_completed" in names and \
        "service_stopped" in names, names


def test_a_python_warning_is_logged_as_a_json_event():
    import io
    import logging
    import warnings

    from ai_assist.telemetry.logging import configure_logging

    stream = io.StringIO()
    configure_logging("INFO", "json", "test", "0", stream=stream)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a library's deprecation", DeprecationWarning, stacklevel=1)
    finally:
        logging.captureWarnings(False)
    (line,) = stream.getvalue().splitlines()
    event = json.loads(line)
    assert event["level"] == "warning" and "a library's deprecation" in event["event"]
