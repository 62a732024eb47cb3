"""Every threshold alert can fire from what the service can produce: its warning and
critical limits lie inside the range the SLI's query can reach, on the query's own scale.

The range is derived from the query, not from the row's unit or limits: a quantile of a
histogram lies between 0 and its largest finite bucket; a share of a counter's events
(the same counter, or a counter whose events are a subset of the other's) lies in 0..1;
a mean of a `_ratio` histogram lies in 0..1; anything else is 0 or more. So a limit
written as a percent on a ratio (5 for 5 %) cannot pass, whatever its own promtool cases
say. On the stack, the recorded SLI after real traffic lies in the same range."""

from __future__ import annotations

import math
import re

import pytest

from ai_assist.telemetry import metrics as M
from observability.thresholds import THRESHOLDS, Threshold

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


@pytest.mark.parametrize("row", THRESHOLDS, ids=lambda r: r.key)
def test_each_limit_can_be_crossed(row: Threshold):
    low, high = reachable(row)
    worse = (lambda a, b: a > b) if row.higher_is_worse else (lambda a, b: a < b)
    assert worse(row.warning, row.goal) and worse(row.critical, row.warning), \
        f"{row.key}: goal {row.goal}, warning {row.warning}, critical {row.critical} are " \
        "not in order of getting worse"
    for name, limit in (("warning", row.warning), ("critical", row.critical)):
        if row.higher_is_worse:
            assert low <= limit < high, f"{row.key}: {name} {limit} is beyond the SLI's " \
                                        f"reach ({low:g}..{high:g})"
        else:
            assert low < limit <= high, f"{row.key}: {name} {limit} is beyond the SLI's " \
                                        f"reach ({low:g}..{high:g})"


@pytest.mark.parametrize("row", THRESHOLDS, ids=lambda r: r.key)
def test_the_unit_matches_the_scale(row: Threshold):
    low, high = reachable(row)
    if high == 1.0:
        assert row.unit in ("percentunit", "none"), f"{row.key}: a 0..1 share shown as {row.unit}"
    else:
        assert row.unit != "percentunit", f"{row.key}: {row.unit} on a value up to {high:g}"


@pytest.mark.stack
def test_the_recorded_slis_of_real_traffic_lie_in_reach(stack_with_traffic):
    outside = []
    for row in THRESHOLDS:
        low, high = reachable(row)
        samples = stack_with_traffic.query(row.record)
        if not samples:
            outside.append(f"{row.record}: no value recorded, so none to check")
        for _, value in samples:
            if not low <= value <= high:
                outside.append(f"{row.record} = {value:g}, outside {low:g}..{high:g}")
    assert not outside, "\n".join(outside)
