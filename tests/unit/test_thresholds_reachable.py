"""Every threshold alert can fire from what the service can produce: its warning and
critical limits lie inside the range the SLI's query can reach, on the query's own scale.

The range is derived from the query, not from the row's unit or limits: a quantile of a
histogram lies between 0 and its largest finite bucket; a share of a counter's events
(the same counter, or a counter whose events are a subset of the other's) lies in 0..1;
a mean of a `_ratio` histogram lies in 0..1; anything else is 0 or more. So a limit
written as a percent on a ratio (5 for 5 %) cannot pass, whatever its own promtool cases
say (the range: tests/harness/reachable.py). On the stack, the recorded SLI after real
traffic lies in the same range: tests/stack/test_thresholds_reachable_on_prometheus.py."""

from __future__ import annotations

import pytest

from observability.thresholds import THRESHOLDS, Threshold
from tests.harness.reachable import reachable


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
