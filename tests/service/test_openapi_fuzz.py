"""Schemathesis against the live service: over a thousand requests generated from its own
OpenAPI document, valid and invalid, and not one 5xx or answer that breaks the document.

The service runs with the LLM off (every answer from the embedding ranking, so a request
costs tens of milliseconds) and a short text limit (so hypothesis draws short texts): the
HTTP edge, the validation and the answers are the same code as with Gemini on.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from tests.conftest import running_service
from tests.harness.processes import copy_index

# Valid and invalid requests for the mapping route; the GET routes take no input, so one
# case each covers them. Sized to take about a minute on 2 busy cores.
CASES = {GenerationMode.POSITIVE: 300, GenerationMode.NEGATIVE: 720}
MIN_CASES = 1000
# A refused invalid request may be any of the service's documented 4xx, 413 included
# (schemathesis's default list leaves 413 out).
REJECTION_STATUSES = ["400", "413", "415", "422"]


@pytest.fixture(scope="module")
def fuzzed_service(live_service, emulator, tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzz")
    chroma = copy_index(live_service.settings.chroma_path, work / "chroma-copy")
    with running_service(work, emulator.url, chroma_path=chroma, llm_enabled=False,
                         max_text_chars=200, rate_limit_per_minute=0) as service:
        yield service


def test_generated_requests_get_no_5xx_and_match_the_openapi_document(fuzzed_service):
    url = fuzzed_service.url
    config = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {
        "expected-statuses": REJECTION_STATUSES}}})
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)
    session = requests.Session()
    statuses: Counter = Counter()
    failures: list[str] = []
    started = time.monotonic()

    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/esg/map", "GET /health", "GET /livez",
                                               "GET /readyz", "GET /metrics"}
    for operation in operations:
        has_input = operation.label == "POST /v1/esg/map"
        for mode, examples in CASES.items():
            if not has_input and mode is GenerationMode.NEGATIVE:
                continue  # nothing to make invalid

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples if has_input else 1, deadline=None,
                      database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            def exercise(case):
                response = case.call(base_url=url, session=session, timeout=30)
                statuses[(operation.label, mode.value, response.status_code)] += 1
                try:  # every default check: status, content type, headers, body schema,
                    case.validate_response(response)  # valid data accepted, invalid refused
                except BaseException as failure:  # noqa: BLE001 - gathered, reported below
                    failures.append(f"{operation.label} {mode.value} "
                                    f"{response.status_code}: {failure}"[:1500])

            exercise()

    elapsed = time.monotonic() - started
    total = sum(statuses.values())
    server_errors = {k: v for k, v in statuses.items() if k[2] >= 500}
    summary = "\n".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
    assert total >= MIN_CASES, summary
    assert not server_errors, summary
    assert not failures, f"{len(failures)} failures in {total} cases:\n" + "\n".join(
        failures[:5])
    # both kinds really reached the service: answers and refusals
    assert statuses[("POST /v1/esg/map", "positive", 200)] > 0, summary
    assert any(k[1] == "negative" and k[2] in (400, 422) for k in statuses), summary
    print(f"\n{total} generated cases in {elapsed:.0f} s, no 5xx, no schema violation\n"
          f"{summary}")
