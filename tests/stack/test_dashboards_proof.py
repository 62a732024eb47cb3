"""The proof: every Prometheus target of every compiled dashboard, variables filled as
Grafana fills them, returns data without NaN from a real Prometheus scraping the real
service after a traffic mix that reaches every path; every target equals the truth of
that traffic (tests/harness/truth.py), computed from the client's records, the
emulator's counters and the price table, and still returns its real series with the
guards that only decide what an idle service shows removed; Loki queries filter on
fields the service really logs.

Needs the session fixture `stack_with_traffic` (tests/conftest.py): `.prom.query(expr,
time=None) -> [(labels, value)]`, `.traffic` (what was sent), `.scrape_interval_s`,
`.log_lines` (the service's own JSON log lines).
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict


from ai_assist.telemetry.logging import SERVICE_NAME
from tests.harness.panels import (
    COVERAGE,
    all_queries,
    load_dashboards,
    loki_label_filters,
)
from tests.harness.proof import (
    check_truth,
    evaluate,
    idle_window,
    short,
    traffic_window,
)
from tests.harness.truth import PARSE_RESULT

DASHBOARDS = load_dashboards()
QUERIES = all_queries(DASHBOARDS)


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
        COVERAGE.append(f"panels, {label}: {short(uid)}: {proven[uid]}/{totals[uid]} "
                        "targets proven")
    assert not failures, f"{label}: unproven targets:\n" + "\n".join(failures)
    assert set(totals) == set(DASHBOARDS)


def test_every_prometheus_target_has_data_after_traffic(stack_with_traffic):
    prove(stack_with_traffic, *traffic_window(stack_with_traffic), "traffic")


def test_every_prometheus_target_has_data_when_idle(stack_with_traffic):
    prove(stack_with_traffic, *idle_window(stack_with_traffic), "idle")


def test_every_prometheus_target_shows_the_truth(stack_with_traffic):
    problems, counts, not_driven = check_truth(stack_with_traffic, QUERIES)
    for uid in sorted(counts):
        c = counts[uid]
        COVERAGE.append(f"truth: {short(uid)}: {c['checked']}/{c['total']} targets equal the "
                        f"traffic's truth, {c['real']}/{c['total']} return a real series "
                        "with their guards removed")
        COVERAGE.extend(f"  not driven here: {line}" for line in not_driven[uid])
    assert not problems, "\n".join(problems)


def test_truth_tables_know_every_emulator_answer():
    """The truth derives parse results and wasted tokens from the emulator's outcomes: an
    outcome it does not place would silently count as nothing."""
    from gemini_emulator.config import ANSWERED

    assert set(ANSWERED) - {"invented_all"} <= set(PARSE_RESULT)


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
            if field == "__error__":  # Loki's `| json` sets it on lines that are not JSON
                continue
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
