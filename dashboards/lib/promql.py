"""PromQL builders the dashboards add to alerting/promql.py: grouped quantiles and
shares that read 0 instead of NaN, and guards. The anomaly band is alerting/bands.py."""

from __future__ import annotations

import re

from alerting.promql import sum_rate

RATE = "$__rate_interval"

# Windows that deliberately ignore the time picker. A panel using one says so in its
# description (tests check both).
FIXED_WINDOWS = {
    "1d": "daily figures (the plan's daily token and request rows)",
    "5m": "the last five minutes, and the anomaly band's inner rate",
}

_GUARDED = re.compile(r"or on\(\) vector\([0-9.]+\)\)*$")


def zero_when_absent(expr: str) -> str:
    """`expr`, or 0 when it has no sample (before the first scrapes, no traffic)."""
    if _GUARDED.search(expr):
        return expr
    return f"({expr}) or on() vector(0)"


def per_minute(expr: str) -> str:
    return f"({expr}) * 60"


def quantile_by(q: float, histogram: str, by: str, w: str, matchers: str = "",
                m: str = "") -> str:
    """Per-`by` quantile; a group with no observations reads 0, not NaN."""
    buckets = sum_rate(f"{histogram}_bucket", w, matchers, m, by=f"le, {by}")
    count = sum_rate(f"{histogram}_count", w, matchers, m, by=by)
    return (f"(histogram_quantile({q:g}, {buckets}) and on({by}) {count} > 0)"
            f" or on({by}) {count} * 0")


def share_by(metric: str, by: str, w: str, matchers: str = "", m: str = "") -> str:
    """Each `by` group's share of the total rate; every group 0 when the total is 0."""
    part = sum_rate(metric, w, matchers, m, by=by)
    whole = sum_rate(metric, w, matchers, m)
    return f"({part} / on() group_left() ({whole} > 0)) or on({by}) {part} * 0"


def regex_alternatives(values) -> str:
    """A PromQL regex string body matching exactly `values` (dots escaped)."""
    return "|".join(v.replace(".", "\\\\.") for v in values)
