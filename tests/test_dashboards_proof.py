"""The proof: every Prometheus target of every compiled dashboard, variables filled as
Grafana fills them, returns data without NaN from a real Prometheus scraping the real
service after a traffic mix that reaches every path; key panels equal the truth the
traffic recorded; Loki queries filter on fields the service really logs.

Needs the session fixture `stack_with_traffic` (tests/conftest.py): `.prom.query(expr,
time=None) -> [(labels, value)]`, `.traffic` (what was sent), `.scrape_interval_s`,
`.log_lines` (the service's own JSON log lines).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import defaultdict

import pytest

from ai_assist.telemetry.logging import SERVICE_NAME
from gemini_emulator.config import ANSWERED
from observability.thresholds import BY_KEY
from tests.harness.panels import (
    COVERAGE,
    all_queries,
    fill_variables,
    find_query,
    load_dashboards,
    loki_label_filters,
)
from tests.harness.processes import wait_until

pytestmark = pytest.mark.stack

RANGE_S = 3600  # the dashboards' default range, now-1h: $__range of the uptime panel
DASHBOARDS = load_dashboards()
QUERIES = all_queries(DASHBOARDS)


def tolerance(stack) -> dict:
    """How far a ratio of rates may sit from the truth. One replica's counters share one
    extrapolation factor, so its ratios are exact; two replicas are scraped at different
    offsets, and rate() stretches each one's sampled span (window minus up to one scrape
    interval) to the window, so their factors differ by up to a scrape interval over the
    sampled span. A ratio of one replica's count to the sum moves by at most that much."""
    _, interval_s = traffic_window(stack)  # the window is $__interval + one scrape
    rel = 1.2 * stack.scrape_interval_s / interval_s
    assert rel <= 0.03, "the stack's lead-in is too short for a 3 % check"
    return {"rel": rel, "abs": 1e-9}


def _short(uid: str) -> str:
    return uid.removeprefix("ai-assist-")


def _at(stack, at: float) -> float:
    """`at`, once Prometheus has scraped past it."""
    wait_until(lambda: time.time() >= at + 2 * stack.scrape_interval_s, 120,
               "a scrape after the evaluation time", interval=0.2)
    return at


def traffic_window(stack) -> tuple[float, float]:
    """(evaluation time, $__interval) whose $__rate_interval covers all the traffic and
    the lead-in of zeroes before it."""
    scrape, traffic = stack.scrape_interval_s, stack.traffic
    at = _at(stack, traffic.finished_at + 2 * scrape)
    return at, math.ceil(at - traffic.started_at + stack.lead_in_s)


def idle_window(stack) -> tuple[float, float]:
    """(evaluation time, $__interval) whose $__rate_interval saw no traffic."""
    scrape = stack.scrape_interval_s
    return _at(stack, stack.traffic.finished_at + 6 * scrape), scrape


def evaluate(stack, expr: str, at: float, interval_s: float) -> list[tuple[dict, float]]:
    return stack.prom.query(fill_variables(expr, RANGE_S, interval_s, stack.scrape_interval_s),
                            time=at)


def prove(stack, at: float, interval_s: float, label: str) -> None:
    proven, failures = defaultdict(int), []
    totals = defaultdict(int)
    for q in QUERIES:
        if q.kind != "prometheus":
            continue
        totals[q.dashboard] += 1
        try:
            samples = evaluate(stack, q.expr, at, interval_s)
        except Exception as exc:  # a query Prometheus refuses is a failure, not a crash
            failures.append(f"{q.dashboard} / {q.panel} / {q.ref}: {exc}")
            continue
        bad = [value for _, value in samples if not math.isfinite(value)]
        if samples and not bad:
            proven[q.dashboard] += 1
        else:
            failures.append(f"{q.dashboard} / {q.panel} / {q.ref}: "
                            f"{'no sample' if not samples else f'non-finite {bad}'}")
    for uid in sorted(totals):
        COVERAGE.append(f"panels, {label}: {_short(uid)}: {proven[uid]}/{totals[uid]} "
                        "targets proven")
    assert not failures, f"{label}: unproven targets:\n" + "\n".join(failures)
    assert set(totals) == set(DASHBOARDS)


def test_every_prometheus_target_has_data_after_traffic(stack_with_traffic):
    prove(stack_with_traffic, *traffic_window(stack_with_traffic), "traffic")


def test_every_prometheus_target_has_data_when_idle(stack_with_traffic):
    prove(stack_with_traffic, *idle_window(stack_with_traffic), "idle")


# --- the truth ---------------------------------------------------------------------
def panel_samples(stack, uid: str, title: str, ref: str = "A") -> list[tuple[dict, float]]:
    return evaluate(stack, find_query(DASHBOARDS, uid, title, ref).expr,
                    *traffic_window(stack))


def panel_value(stack, uid: str, title: str, ref: str = "A") -> float:
    (only,) = panel_samples(stack, uid, title, ref)
    return only[1]


def test_fallback_ratio_is_the_truth(stack_with_traffic):
    traffic = stack_with_traffic.traffic
    assert traffic.statuses["fallback"] > 0, "the traffic mix must reach the fallback"
    expected = traffic.statuses["fallback"] / traffic.answered
    for uid in ("ai-assist-quality",):
        value = panel_value(stack_with_traffic, uid, BY_KEY["fallback_ratio"].title)
        assert value == pytest.approx(expected, **tolerance(stack_with_traffic))


def test_error_rate_is_the_truth(stack_with_traffic):
    traffic = stack_with_traffic.traffic
    expected = traffic.statuses["error"] / traffic.answered
    for uid in ("ai-assist-realtime", "ai-assist-health"):
        value = panel_value(stack_with_traffic, uid, BY_KEY["error_rate"].title)
        assert value == pytest.approx(expected, **tolerance(stack_with_traffic)), uid


def test_average_tokens_per_call_are_the_truth(stack_with_traffic):
    traffic = stack_with_traffic.traffic
    usage = traffic.tokens_per_call  # the emulator's fixed usage_metadata per answer
    outcomes = stack_with_traffic.emulator.stats()["by_outcome"]
    answers = sum(outcomes.get(o, 0) for o in ANSWERED)
    with_text = answers - outcomes.get("empty", 0)  # an empty answer bills no output
    expected = {"avg_input_tokens": usage["input"],
                "avg_output_tokens": usage["thinking"] + usage["output"] * with_text / answers}
    for key, value in expected.items():
        shown = panel_value(stack_with_traffic, "ai-assist-cost", BY_KEY[key].title)
        assert shown == pytest.approx(value, **tolerance(stack_with_traffic)), key


def test_match_distribution_is_the_truth(stack_with_traffic):
    matches = stack_with_traffic.traffic.matches_by_framework
    total = sum(matches.values())
    assert total > 0
    shown = {labels["framework"]: value for labels, value in panel_samples(
        stack_with_traffic, "ai-assist-quality", "Match distribution by framework")}
    assert set(shown) >= set(matches), shown
    for framework, value in shown.items():
        assert value == pytest.approx(matches[framework] / total,
                                      **tolerance(stack_with_traffic)), framework
    assert sum(shown.values()) == pytest.approx(1, abs=0.001)


# --- Loki: no Loki here, so prove the queries against the service's real log lines ---
def _log_records(stack) -> list[dict]:
    records = []
    for line in stack.log_lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def test_loki_queries_filter_on_what_the_service_logs(stack_with_traffic):
    records = _log_records(stack_with_traffic)
    assert records, "the fixture offers no JSON log line"
    fields = {key for record in records for key in record}
    problems = []
    loki_queries = [q for q in QUERIES if q.kind == "loki"]
    assert loki_queries
    for q in loki_queries:
        for label, value in re.findall(r'(\w+)\s*=\s*"([^"]*)"', q.expr.split("}")[0]):
            if not any(str(r.get(label)) == value for r in records):
                problems.append(f"{q.panel}: no line has stream label {label}={value!r}")
        for field, op, value in loki_label_filters(q.expr):
            if field not in fields:
                problems.append(f"{q.panel}: field {field} occurs in no log line")
            elif op in ("=", "=~") and value.startswith('"') and not any(
                    _matches(op, value.strip('"'), r.get(field)) for r in records):
                problems.append(f"{q.panel}: no line has {field} {op} {value}")
    assert not problems, "\n".join(problems)
    assert {r.get("service") for r in records} == {SERVICE_NAME}


def _matches(op: str, wanted: str, actual) -> bool:
    if actual is None:
        return False
    return str(actual) == wanted if op == "=" else re.fullmatch(wanted, str(actual)) is not None
