"""The names every ratio alert and anomaly band share: the SLI window, the recorded
request rate (the traffic guard) and the window of each threshold row's recording."""

from __future__ import annotations

from observability.durations import COMMITTED, Scale
from observability.promql import Scope
from observability.selectors import RULES
from observability.thresholds import Threshold

WINDOW = "5m"
REQUEST_RATE = "ai_assist:request_rate:5m"  # answered requests per second


def threshold_window(row: Threshold, scale: Scale = COMMITTED) -> str:
    return scale(row.fixed_window or WINDOW)


def traffic_guard(min_request_rate: float, scope: Scope = RULES) -> str:
    """`and` this onto an alert so that it needs real traffic (in its own group) to fire."""
    return f"and {scope.on} {REQUEST_RATE} >= {min_request_rate:g}"
