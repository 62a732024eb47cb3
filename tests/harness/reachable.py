"""The range a threshold's SLI query can reach, derived from the query itself
(tests/unit/test_thresholds_reachable.py, tests/stack/test_thresholds_reachable_on_prometheus.py).

A quantile of a histogram lies between 0 and its largest finite bucket; a share of a
counter's events (the same counter, or a counter whose events are a subset of the
other's) lies in 0..1; a mean of a `_ratio` histogram lies in 0..1; anything else is 0
or more."""

from __future__ import annotations

import math
import re

from ai_assist.telemetry import metrics as M
from observability.thresholds import Threshold

# Counters whose every event is also an event of another: (part, whole).
SUBSETS = {(M.GEMINI_RETRIES_TOTAL, M.GEMINI_CALLS_TOTAL),
           (M.DUPLICATE_REQUESTS_TOTAL, M.REQUESTS_TOTAL)}
_RATE = re.compile(r"rate\((\w+)(?:\{[^}]*\})?\[")


def reachable(row: Threshold) -> tuple[float, float]:
    """(lowest, highest) value the row's SLI query can take."""
    expr = row.expr()
    if "histogram_quantile(" in expr:
        # over the raw buckets or their recorded rates (ai_assist:<histogram>_bucket:rate5m)
        histogram = re.search(r"(?:rate\(|ai_assist:)(\w+)_bucket\b", expr).group(1)
        return 0.0, max(M.BY_NAME[histogram].buckets)
    rated = _RATE.findall(expr)
    if " / " in expr and len(rated) == 2:
        numerator, denominator = rated
        if numerator.endswith("_sum") and denominator == numerator[:-4] + "_count":
            return (0.0, 1.0) if numerator[:-4].endswith("_ratio") else (0.0, math.inf)
        if numerator == denominator or (numerator, denominator) in SUBSETS:
            return 0.0, 1.0
    return 0.0, math.inf
