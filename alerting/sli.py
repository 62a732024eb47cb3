"""Recording rules over the service's raw metrics: the 18 SLIs of the plan's tables and
the request rate that every ratio alert needs as its traffic guard. Alerts, anomaly bands
and dashboards read these, so each SLI is computed once, in one place."""

from __future__ import annotations

from alerting.durations import COMMITTED, Scale
from alerting.model import Recording
from alerting.thresholds import THRESHOLDS, Threshold, answered_rate

WINDOW = "5m"
REQUEST_RATE = "ai_assist:request_rate:5m"  # answered requests per second


def threshold_window(row: Threshold, scale: Scale = COMMITTED) -> str:
    return scale(row.fixed_window or WINDOW)


def recordings(scale: Scale = COMMITTED) -> list[Recording]:
    rules = [Recording(REQUEST_RATE, answered_rate(scale(WINDOW)))]
    rules += [Recording(row.record, row.query(threshold_window(row, scale), ""))
              for row in THRESHOLDS]
    return rules


def traffic_guard(min_request_rate: float) -> str:
    """`and` this onto an alert so that it needs real traffic to fire."""
    return f"and on() {REQUEST_RATE} >= {min_request_rate:g}"
