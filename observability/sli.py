"""The names every ratio alert and anomaly band share: the SLI window, the recorded
request rate (the traffic guard) and the window of each threshold row's recording."""

from __future__ import annotations

from observability.durations import COMMITTED, Scale
from observability.promql import Scope, aggregate, sel
from observability.selectors import RULES
from observability.thresholds import Threshold

WINDOW = "5m"
REQUEST_RATE = f"ai_assist:answered_requests:rate{WINDOW}"  # answered requests per second


def threshold_window(row: Threshold, scale: Scale = COMMITTED) -> str:
    return scale(row.fixed_window or WINDOW)


# A counter summed over its labels, per replica: still a counter (a replica's series
# reset together when it restarts, so increase() sees the reset), but one series a
# replica instead of one per label set. The daily rows' rules read a day of it.
def counter_sum(metric: str) -> str:
    return f"ai_assist:{metric.removesuffix('_total')}:sum"


def counter_sum_expr(metric: str, scope: Scope = RULES) -> str:
    return aggregate("sum", sel(metric, m=scope), scope, "instance")


def daily_expr(row: Threshold, scale: Scale = COMMITTED, scope: Scope = RULES) -> str:
    """The row's increase over its fixed window, from the per-replica sum."""
    window = threshold_window(row, scale)
    return aggregate("sum", f"increase({counter_sum(row.counter)}[{window}])", scope)


def traffic_guard(min_request_rate: float, scope: Scope = RULES) -> str:
    """`and` this onto an alert so that it needs real traffic (in its own group) to fire."""
    return f"and {scope.on} {REQUEST_RATE} >= {min_request_rate:g}"
