"""No input reaches a 500: hostile bodies get a 4xx that names the problem and is counted,
and the one 500 path left (a bug) is answered, logged once and counted like any error."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlparse

import pytest
import requests

from ai_assist.samples import SCOPE1
from tests.conftest import running_service
from tests.harness.processes import copy_index

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def service(live_service, emulator, tmp_path_factory):
    """A service of this module's own, so the log lines it captures are its own."""
    work = tmp_path_factory.mktemp("hostile")
    chroma = copy_index(live_service.settings.chroma_path, work / "chroma-copy")
    with running_service(work, emulator.url, chroma_path=chroma) as service:
        yield service


def post_raw(url: str, data: bytes | str, request_id: str, **headers) -> requests.Response:
    return requests.post(f"{url}/v1/esg/map", data=data, timeout=30,
                         headers={**JSON, "X-Request-ID": request_id, **headers})


def lines_of(service, request_id: str) -> list[dict]:
    return [e for e in (json.loads(line) for line in list(service.logs.lines))
            if e.get("request_id") == request_id]


HOSTILE = [
    # (id, body, status, reason, words the message must hold)
    ("nested-3000", '{"text": ' + "[" * 3000 + "]" * 3000 + "}", 400, "json_too_deep",
     "more than 32 levels"),
    ("nested-objects", '{"text": "x", "a": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}", 400,
     "json_too_deep", "32 levels"),
    ("integer-5000-digits", '{"text": "Scope 1", "top_k": ' + "9" * 5000 + "}", 400,
     "number_too_large", "5000 characters"),
    ("float-200-digits", '{"text": "Scope 1", "top_k": 0.' + "1" * 200 + "}", 400,
     "number_too_large", "the limit is 100"),
    ("lone-surrogate", '{"text": "abc \\ud800"}', 400, "invalid_unicode", "text holds a lone"),
    ("lone-surrogate-in-framework", '{"text": "Scope 1", "frameworks": ["GRI", "\\udfff"]}',
     400, "invalid_unicode", "frameworks[1]"),
    ("lone-surrogate-in-key", '{"text": "Scope 1", "\\ud800": 1}', 400, "invalid_unicode",
     "a key of the body"),
    ("nan", '{"text": "Scope 1", "top_k": NaN}', 400, "invalid_json", "NaN"),
    ("not-utf8", b'{"text": "\xff\xfe"}', 400, "invalid_json", "not valid UTF-8"),
    ("zero-width-only", json.dumps({"text": "\u200b\u200c\u200d\u2060\ufeff"}), 422,
     "empty_text", "no visible character"),
    ("control-only", json.dumps({"text": "\x00\x01\x07\x1b\x7f\u0085"}), 422, "empty_text",
     "no visible character"),
    ("top_k-true", json.dumps({"text": "Scope 1", "top_k": True}), 422, "invalid_request",
     "top_k: Input should be a valid integer"),
    ("top_k-string", json.dumps({"text": "Scope 1", "top_k": "5"}), 422, "invalid_request",
     "top_k: Input should be a valid integer"),
    ("top_k-fraction", json.dumps({"text": "Scope 1", "top_k": 5.5}), 422, "invalid_request",
     "top_k"),
    ("lowercase-framework", json.dumps({"text": "Scope 1", "frameworks": ["gri"]}), 422,
     "unknown_framework", "'gri'"),
]


@pytest.mark.parametrize("name,body,status,reason,words", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_body_gets_a_4xx_naming_the_problem(service, emulator, name, body, status,
                                                    reason, words):
    request_id = f"hostile-{name}"
    before = service.sample("esg_mapping_rejected_requests_total", reason=reason)
    gemini_calls = emulator.stats()["calls"]
    response = post_raw(service.url, body, request_id)
    assert response.status_code == status, response.text
    assert response.headers["X-Request-ID"] == request_id
    answer = response.json()
    assert answer == {"error": reason, "message": answer["message"], "request_id": request_id}
    assert words in answer["message"], answer["message"]
    assert service.sample("esg_mapping_rejected_requests_total", reason=reason) == before + 1
    assert emulator.stats()["calls"] == gemini_calls  # nothing of it went to Gemini
    rejected = [e for e in lines_of(service, request_id) if e["event"] == "request_rejected"]
    assert [e["reason"] for e in rejected] == [reason]


def test_values_echoed_in_answers_and_logs_are_clipped(service):
    huge = "X" * 60_000  # fits under the 64 KiB body limit
    for body, reason in ((json.dumps({"text": "Scope 1", "frameworks": [huge]}),
                          "unknown_framework"),
                         (json.dumps({"text": "Scope 1", huge: 1}), "invalid_request")):
        request_id = f"echo-{reason}"
        response = post_raw(service.url, body, request_id)
        assert response.status_code == 422 and response.json()["error"] == reason
        message = response.json()["message"]
        assert "XXXXXXXX" in message and "(60000 characters)" in message
        assert len(response.content) < 1000
        for line in service.logs.lines:
            assert huge[:1000] not in line
        assert lines_of(service, request_id)  # it was logged, just not whole


def test_a_long_content_type_is_clipped_too(service):
    response = post_raw(service.url, b"{}", "echo-ctype", **{"Content-Type": "x/" + "y" * 5000})
    assert response.status_code == 415
    assert len(response.json()["message"]) < 400


def test_the_service_still_answers_after_the_hostile_bodies(service):
    assert post_raw(service.url, json.dumps({"text": SCOPE1}), "after-hostile").status_code \
        == 200


@pytest.fixture
def broken(service, monkeypatch):
    """Plant a bug: an exception from inside the service (before or inside the pipeline)."""

    def plant(where: str):
        async def explode(*args, **kwargs):
            raise RuntimeError("planted bug")

        target = service.state.limiter if where == "before" else service.state.pipeline
        monkeypatch.setattr(target, "acquire" if where == "before" else "run", explode)
    return plant


@pytest.mark.parametrize("where", ["before", "inside"])
def test_an_unexpected_exception_is_one_counted_logged_json_500(service, broken, where):
    broken(where)
    request_id = f"bug-{where}"
    errors_before = service.sample("esg_mapping_errors_total", error_type="InternalError",
                                   severity="CRITICAL")
    statuses = ("success", "fallback", "error", "rejected")
    before = {s: service.sample("esg_mapping_requests_total", status=s) for s in statuses}
    logged_before = len(service.logs.lines)

    response = post_raw(service.url, json.dumps({"text": SCOPE1}), request_id)

    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == request_id
    assert response.headers["Connection"].lower() == "close"
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"error": "internal_error", "request_id": request_id,
                               "message": response.json()["message"]}
    assert "planted bug" not in response.text  # details stay in the logs
    after = {s: service.sample("esg_mapping_requests_total", status=s) for s in statuses}
    assert {s: after[s] - before[s] for s in statuses} == {
        "success": 0, "fallback": 0, "error": 1, "rejected": 0}
    assert service.sample("esg_mapping_errors_total", error_type="InternalError",
                          severity="CRITICAL") == errors_before + 1
    new_lines = [json.loads(line) for line in list(service.logs.lines)[logged_before:]]
    error_lines = [e for e in new_lines if e["level"] in ("error", "critical")]
    assert len(error_lines) == 1, error_lines  # none from Starlette or uvicorn
    error = error_lines[0]
    assert error["event"] == "unhandled_exception" and error["request_id"] == request_id
    assert error["error_type"] == "InternalError" and error["severity"] == "CRITICAL"
    assert "planted bug" in json.dumps(error["exception"])  # the traceback
    access = [e for e in new_lines if e["event"] == "request_completed"]
    assert [(a["request_id"], a["status"]) for a in access] == [(request_id, 500)]


def test_the_500_closes_the_connection_and_the_next_one_is_served(service, broken):
    broken("before")
    address = urlparse(service.url)
    body = json.dumps({"text": SCOPE1}).encode()
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(b"POST /v1/esg/map HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        received = b""
        while chunk := conn.recv(65536):  # ends when the server closes the connection
            received += chunk
    head = received.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 500") and b"connection: close" in head
    assert b"x-request-id: " in head


def test_openapi_says_what_the_service_enforces_and_serves(service):
    spec = requests.get(f"{service.url}/openapi.json", timeout=5).json()
    operation = spec["paths"]["/v1/esg/map"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    props = schema["properties"]
    assert props["text"]["minLength"] == 1
    assert props["text"]["maxLength"] == service.settings.max_text_chars
    assert props["top_k"]["type"] == "integer"
    assert (props["top_k"]["minimum"], props["top_k"]["maximum"]) == (
        1, service.settings.max_top_k)
    # the documented bounds are the enforced ones: at the bound accepted, past it refused
    longest, most = props["text"]["maxLength"], props["top_k"]["maximum"]
    for body, status in (({"text": "a" * longest}, 200), ({"text": "a" * (longest + 1)}, 413),
                         ({"text": SCOPE1, "top_k": most}, 200),
                         ({"text": SCOPE1, "top_k": most + 1}, 422),
                         ({"text": SCOPE1, "top_k": 0}, 422)):
        response = post_raw(service.url, json.dumps(body), "bounds")
        assert response.status_code == status, (str(body)[:80], response.text[:300])
    array = next(o for o in props["frameworks"]["anyOf"] if o.get("type") == "array")
    assert array["items"]["enum"] == ["GRI", "SASB", "TCFD", "ESRS"]
    assert schema["additionalProperties"] is False
    for code in ("400", "413", "415", "422", "429", "500", "503"):
        content = operation["responses"][code]["content"]
        assert list(content) == ["application/json"], code
    assert "401" not in operation["responses"]  # no API keys configured here
    for path, types in (("/livez", ["text/plain"]), ("/readyz", ["text/plain"]),
                        ("/metrics", ["text/plain", "application/openmetrics-text"])):
        responses = spec["paths"][path]["get"]["responses"]
        assert list(responses["200"]["content"]) == types, path
        served = requests.get(f"{service.url}{path}", timeout=5).headers["Content-Type"]
        assert served.split(";")[0] == types[0], path
    openmetrics = requests.get(f"{service.url}/metrics", timeout=5,
                               headers={"Accept": "application/openmetrics-text"})
    assert openmetrics.headers["Content-Type"].startswith("application/openmetrics-text")
