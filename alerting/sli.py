"""Recording rules over the service's raw metrics: the histograms' bucket and count rates
that every quantile reads (observability/histograms.py), the 18 SLIs of the plan's tables
and the request rate that every ratio alert needs as its traffic guard. Alerts, anomaly
bands and dashboards read these, so each SLI is computed once, in one place. The bucket
rates come first: a group evaluates its rules in order, so the quantile SLIs after them
read this evaluation's rates."""

from __future__ import annotations

from alerting.model import Recording
from observability.durations import COMMITTED, Scale
from observability.histograms import HISTOGRAMS
from observability.selectors import RULES
from observability.sli import (
    REQUEST_RATE, WINDOW, counter_sum, counter_sum_expr, daily_expr, threshold_window,
)
from observability.thresholds import THRESHOLDS, answered_rate


def recordings(scale: Scale = COMMITTED) -> list[Recording]:
    rules = [Recording(name, expr) for h in HISTOGRAMS for name, expr in h.recordings(scale)]
    rules += [Recording(REQUEST_RATE, answered_rate(scale(WINDOW), RULES))]
    rules += [Recording(counter_sum(row.counter), counter_sum_expr(row.counter))
              for row in THRESHOLDS if row.counter]
    rules += [Recording(row.record, daily_expr(row, scale) if row.counter
                        else row.query(threshold_window(row, scale), RULES))
              for row in THRESHOLDS]
    return rules
