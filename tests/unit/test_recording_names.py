"""Every recording rule's name says what it computes, in Prometheus's `level:metric:operations`
convention (prometheus.io/docs/practices/rules): the level `ai_assist`, and an operation
whose window is the range the expression reads. `ai_assist:slo_error_ratio:rate30d` must
read 30 days (or the 30-day recordings), `...:rate5m` five minutes: a rule computed over
another window than its name says fails here, whatever value it happens to give."""

from __future__ import annotations

import re

import pytest

from alerting.rules import all_recordings

NAME = re.compile(r"^ai_assist:(?P<metric>[a-z][a-z0-9_]*):(?P<ops>[a-z][a-z0-9_]*)$")
OPS = re.compile(r"^(?P<op>[a-z_]*?)(?P<window>\d+[smhdw])?$")
RANGE = re.compile(r"\[(\d+[smhdw])\]")
RECORDED = re.compile(r"ai_assist:[a-z0-9_]+:[a-z0-9_]+")
# Operations without a window: what the expression must start with (None: any).
NO_WINDOW = {"sum": "sum by", "count": "count by", "ratio": "vector(", "value": None,
             "signal": None, "unstabilised": None}
# Names this check leaves as they are, and why.
EXCEPTIONS = {
    "ai_assist:autoscaler_desired_replicas":
        "read by name by the KEDA trigger and prometheus-adapter in deploy/ (outside this "
        "change); the HPA's 5-minute stabilisation, no level:metric:operations name yet",
    "ai_assist:autoscaler_signal:value":
        "one series per autoscaling signal, of mixed kinds (a gauge, a 5-minute p95): "
        "read by name by KEDA and prometheus-adapter in deploy/",
}


def _window(name: str) -> str | None:
    parts = NAME.match(name)
    if not parts:
        return None
    return OPS.match(parts["ops"])["window"]


def problems(record: str, expr: str) -> list[str]:
    if record in EXCEPTIONS:
        return []
    parts = NAME.match(record)
    if not parts:
        return [f"{record}: not level:metric:operations with level ai_assist"]
    ops = OPS.match(parts["ops"])
    if not ops:
        return [f"{record}: operations {parts['ops']!r} are not an operation and a window"]
    op, window = ops["op"], ops["window"]
    ranges = set(RANGE.findall(expr))
    inputs = {n for n in RECORDED.findall(expr) if n != record}
    out = []
    if window is None:
        if op not in NO_WINDOW:
            out.append(f"{record}: operation {op!r} without a window")
        elif NO_WINDOW[op] and not expr.startswith(NO_WINDOW[op]):
            out.append(f"{record}: {op} but the expression is not a {NO_WINDOW[op]}")
        if ranges:
            out.append(f"{record}: names no window but reads {sorted(ranges)}")
        return out
    if ranges and ranges != {window}:
        out.append(f"{record}: named {window} but reads {sorted(ranges)}")
    if not ranges and {_window(n) for n in inputs} != {window}:
        out.append(f"{record}: named {window} but reads {sorted(inputs)}")
    if op == "rate":
        raw = f"rate(" in expr
        recorded = inputs and all(OPS.match(NAME.match(n)["ops"])["op"] == "rate"
                                  for n in inputs if NAME.match(n))
        if not (raw or recorded):
            out.append(f"{record}: a rate that reads neither rate() nor recorded rates")
    elif op == "increase":
        if "increase(" not in expr:
            out.append(f"{record}: an increase without increase()")
    elif op == "ratio":
        if "/" not in expr:
            out.append(f"{record}: a ratio without a division")
    elif op in ("band_mean", "band_spread"):
        function = {"band_mean": "avg_over_time(", "band_spread": "stddev_over_time("}[op]
        if function not in expr:
            out.append(f"{record}: {op} without {function}")
    elif op in ("band_upper", "band_lower"):
        want = {f"ai_assist:{parts['metric']}:band_{p}{window}" for p in ("mean", "spread")}
        if inputs != want:
            out.append(f"{record}: a band bound reads {sorted(inputs)}, not {sorted(want)}")
    else:
        out.append(f"{record}: unknown operation {op!r}")
    return out


def test_every_recording_rule_is_named_for_its_window_and_operation():
    found = sorted({p for r in all_recordings() for p in problems(r.record, r.expr)})
    assert not found, "\n".join(found)


@pytest.mark.parametrize("record, expr", [
    ("ai_assist:slo_error_ratio:rate30d", "sum(rate(x_total[5m])) / sum(rate(y_total[5m]))"),
    ("ai_assist:slo_error_ratio:rate1d",
     "sum_over_time(ai_assist:slo_errors:rate5m[3d]) / sum_over_time(ai_assist:slo_requests:rate5m[3d])"),
    ("ai_assist:error_rate:5m", "sum(rate(x_total[5m]))"),
    ("ai_assist:daily_tokens:increase1d", "sum(rate(x_total[1d]))"),
    ("ai_assist:x:ratio30d", "1 - ai_assist:y:rate1d / 0.001"),
    ("ai_assist:x:sum", "sum by (instance)(rate(x_total[5m]))"),
    ("ai_assist:x:band_upper1h", "ai_assist:x:band_mean1h + ai_assist:z:band_spread1h"),
    ("instance:x:rate5m", "sum(rate(x_total[5m]))"),
])
def test_the_check_refuses_a_name_that_says_another_window_or_operation(record, expr):
    assert problems(record, expr)


@pytest.mark.parametrize("record, expr", [
    ("ai_assist:slo_error_ratio:rate5m", "sum(rate(x_total[5m])) / sum(rate(y_total[5m]))"),
    ("ai_assist:slo_error_ratio:rate3d",
     "sum_over_time(ai_assist:slo_errors:rate5m[3d]) / sum_over_time(ai_assist:slo_requests:rate5m[3d])"),
    ("ai_assist:slo_error_budget_remaining:ratio30d",
     '1 - ai_assist:slo_error_ratio:rate30d{slo="latency"} / 0.05'),
])
def test_the_check_accepts_a_name_that_says_what_it_reads(record, expr):
    assert not problems(record, expr)
