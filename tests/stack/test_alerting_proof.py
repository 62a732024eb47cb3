"""The proof for the rules: a real Prometheus loads every committed rule file beside the
real service after a traffic mix (the `stack_with_traffic` fixture). Every rule is
healthy, every recording rule holds a number, every series selector in every rule
selects series (a renamed metric or a wrong `le` would not), and every alert expression
evaluates. Alerts themselves may be empty: the traffic is not meant to breach them."""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from glob import glob

import pytest

from ai_assist.config import Settings
from ai_assist.telemetry.metrics import GPU_UTILIZATION
from alerting.unittests import selector
from observability.durations import seconds
from observability.sli import WINDOW
from observability.thresholds import BY_KEY
from tests.harness.panels import COVERAGE
from tests.harness.processes import wait_until
from tests.harness.rules import alerts, load_rules, recordings, selectors

DEADLINE_S = 60
MODEL_MATCHER = re.compile(r'model="([^"]+)"')


def _recorded_series() -> list[str]:
    """One selector per recording rule: its name and the labels it adds."""
    return [selector(rule["record"], rule.get("labels")) for rule in recordings()]


def test_prometheus_loaded_every_rule_and_each_is_healthy(stack_with_traffic):
    expected = Counter(r.get("alert") or r["record"] for r in load_rules())

    def all_evaluated():
        rules = [r for g in stack_with_traffic.prom.rules() for r in g["rules"]]
        return rules if all(r["health"] != "unknown" for r in rules) else None

    rules = wait_until(all_evaluated, DEADLINE_S, "every rule evaluated once")
    assert Counter(r["name"] for r in rules) == expected
    unhealthy = [f"{r['name']}: {r.get('lastError')}" for r in rules if r["health"] != "ok"]
    assert not unhealthy, "\n".join(unhealthy)


def test_every_recording_rule_holds_a_number(stack_with_traffic):
    prom = stack_with_traffic.prom
    missing, not_finite = [], []
    series = _recorded_series()
    for selector in series:
        try:
            samples = wait_until(lambda: prom.query(selector), 30, selector)
        except TimeoutError:
            missing.append(selector)
            continue
        not_finite += [f"{selector} = {v}" for _, v in samples if not math.isfinite(v)]
    proven = len(series) - len(missing) - len(not_finite)
    COVERAGE.append(f"recording rules: {proven}/{len(series)} hold a finite number")
    assert not missing, "no sample:\n" + "\n".join(missing)
    assert not not_finite, "\n".join(not_finite)


def test_every_selector_in_every_rule_selects_series(stack_with_traffic):
    prom = stack_with_traffic.prom
    wanted = sorted({s for rule in load_rules() for s in selectors(rule["expr"])})
    if not glob("/dev/nvidia[0-9]*"):  # NVML reports no GPU series on a CPU host
        wanted = [s for s in wanted if not s.startswith(GPU_UTILIZATION)]
    # the cost rule prices every model of the price table; the stack runs one of them
    other_models = [s for s in wanted
                    if (m := MODEL_MATCHER.search(s)) and m.group(1) != Settings().gemini_model]
    wanted = [s for s in wanted if s not in other_models]
    if other_models:
        COVERAGE.append(f"selectors in rules not driven here: {len(other_models)} name a "
                        "priced Gemini model that the stack does not run")
    empty = []
    for selector in wanted:
        try:
            wait_until(lambda: prom.query(selector), 30, selector)
        except TimeoutError:
            empty.append(selector)
    COVERAGE.append(f"selectors in rules: {len(wanted) - len(empty)}/{len(wanted)} select "
                    "series")
    assert not empty, "selects nothing:\n" + "\n".join(empty)


def test_every_alert_expression_evaluates(stack_with_traffic):
    prom = stack_with_traffic.prom
    failures = []
    for rule in alerts():
        try:
            prom.query(rule["expr"])
        except Exception as exc:  # a refused query is the failure being looked for
            failures.append(f"{rule['alert']} ({rule['labels']['severity']}): {exc}")
    assert not failures, "\n".join(failures)


def test_the_recorded_error_rate_is_the_truth_of_the_traffic(stack_with_traffic):
    """The alerts read the recording rule: it must say what the traffic did."""
    stack = stack_with_traffic
    traffic, prom = stack.traffic, stack.prom
    record = BY_KEY["error_rate"].record
    assert traffic.statuses["error"] > 0, "the traffic mix must reach errors"

    def evaluated_after_the_traffic() -> float | None:
        """A time whose latest evaluation of the rule saw every request (a loaded
        Prometheus may skip one; an older sample stays visible for 5 minutes)."""
        at = time.time() - stack.scrape_interval_s
        stamps = prom.query(f"timestamp({record})", at=at)
        return at if stamps and stamps[0][1] >= stack.query_time else None

    at = wait_until(evaluated_after_the_traffic, 30, "an evaluation after the last request")
    if at - traffic.started_at > seconds(WINDOW) - 20:
        pytest.skip(f"the traffic took longer than the rule's {WINDOW} window")
    (only,) = prom.query(record, at=at)
    assert only[1] == pytest.approx(traffic.statuses["error"] / traffic.answered,
                                    rel=0.03, abs=0.002)
