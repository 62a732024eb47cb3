"""A Gemini that answers garbage stops costing four calls a request (issue 19).

Unusable answers (no JSON after repair, empty, naming no candidate) are retried only
within the retry budget (ai_assist/mapping/retry_budget.py): one bad answer among good
ones is still retried, and a Gemini answering garbage at 100 % costs one call a request
once the budget is spent. The calls are counted by the emulator itself, not by the
service's own metrics.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from ai_assist.mapping.retry_budget import RetryBudget
from ai_assist.samples import SAMPLES, SCOPE1

from tests.conftest import running_service
from tests.harness.processes import copy_index, start_emulator

BUDGET = 10  # the default of AI_ASSIST_LLM_UNUSABLE_RETRY_BUDGET
MAX_RETRIES = 3
GARBAGE = {"malformed": "invalid_json", "empty": "empty_answer",
           "invented_all": "no_valid_match"}


@pytest.fixture(scope="module")
def garbage_emulator(tmp_path_factory):
    """An emulator of its own: these tests set fault rates on it."""
    emulator = start_emulator(tmp_path_factory.mktemp("garbage-emulator"))
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def service(live_service, garbage_emulator, tmp_path_factory):
    emulator = garbage_emulator
    work = tmp_path_factory.mktemp("garbage")
    chroma = copy_index(live_service.settings.chroma_path, work / "chroma")
    # the breaker on, as in production: unusable answers are not its business. A call
    # timeout far above what 16 concurrent calls take on a loaded machine: a timed-out call
    # is retried as a transport failure, outside the budget, and would add calls of its own
    with running_service(work, emulator.url, chroma_path=chroma, llm_max_retries=MAX_RETRIES,
                         circuit_failure_threshold=5, llm_timeout_s=20.0) as live:
        yield live


def calls(emulator) -> int:
    return emulator.stats()["calls"]


def post(service, text: str) -> requests.Response:
    return requests.post(f"{service.url}/v1/esg/map", json={"text": text, "top_k": 3},
                         timeout=60)


def test_a_single_bad_answer_is_still_retried(service, garbage_emulator):
    emulator = garbage_emulator
    """First in the module: the budget is full."""
    before = calls(emulator)
    answer = post(service, f"{SCOPE1} [[emulate:malformed*1]]")
    assert answer.status_code == 200 and answer.json()["fallback_used"] is False
    assert calls(emulator) == before + 2  # the bad answer, then the good one


@pytest.mark.parametrize("fault", list(GARBAGE))
def test_a_gemini_answering_garbage_costs_one_call_a_request(service, garbage_emulator,
                                                             fault):
    """Every answer unusable, for 40 requests one after the other and 64 at once: the
    emulator's own call count is one a request once the budget is spent (the first
    fault's first requests spend it: at most BUDGET / 2 retries in all)."""
    emulator = garbage_emulator
    reason = GARBAGE[fault]
    emulator.configure(fault_rates={fault: 1.0})
    try:
        denied = service.sample("gemini_api_retries_denied_total", reason=reason)
        before = calls(emulator)
        sequential = [post(service, f"{SAMPLES[i % len(SAMPLES)][1]} ({fault} {i})")
                      for i in range(40)]
        with ThreadPoolExecutor(16) as pool:
            concurrent = list(pool.map(lambda i: post(
                service, f"{SAMPLES[i % len(SAMPLES)][1]} ({fault} at once {i})"), range(64)))
        made = calls(emulator) - before
    finally:
        emulator.configure(fault_rates={fault: 0.0})
    answers = sequential + concurrent
    assert {r.status_code for r in answers} == {200}
    assert {r.json()["fallback_reason"] for r in answers} == {reason}
    # the budget: a full bucket allows BUDGET / 2 unusable answers to be retried
    spent_before = fault != next(iter(GARBAGE))
    assert made <= len(answers) + (0 if spent_before else BUDGET // 2), \
        f"{made} Gemini calls for {len(answers)} requests"
    assert made >= len(answers)  # every request still gets its one call
    refused = service.sample("gemini_api_retries_denied_total", reason=reason) - denied
    assert refused >= len(answers) - BUDGET // 2
    assert service.state.pipeline.mapper.breaker.state == "closed"


def test_the_budget_refills_from_usable_answers():
    budget = RetryBudget(10)
    for _ in range(5):
        budget.record(False)
    assert not budget.allows_retry()  # 5 left: not more than half
    for _ in range(10):
        budget.record(True)
    assert budget.allows_retry()  # 6 left
    assert not RetryBudget(0).allows_retry()  # 0: never retried
