"""PromQL builders shared by the SLI definitions, the dashboards and the rules.

`m` is an extra matcher string inserted into every selector (dashboards pass
`instance=~"$instance"`, rules pass nothing); `w` is the range (`$__rate_interval`, `5m`).
"""

from __future__ import annotations

import re


def sel(metric: str, matchers: str = "", m: str = "") -> str:
    parts = [p for p in (matchers, m) if p]
    return f"{metric}{{{', '.join(parts)}}}" if parts else metric


def rate(metric: str, w: str, matchers: str = "", m: str = "") -> str:
    return f"rate({sel(metric, matchers, m)}[{w}])"


def sum_rate(metric: str, w: str, matchers: str = "", m: str = "", by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping}({rate(metric, w, matchers, m)})"


def ratio(numerator: str, denominator: str, idle: float = 0) -> str:
    """numerator / denominator, `idle` when the denominator is 0 (never NaN)."""
    return f"(({numerator}) / (({denominator}) > 0) or on() vector({idle:g}))"


def quantile(q: float, histogram: str, w: str, matchers: str = "", m: str = "") -> str:
    """A histogram quantile that reads 0, not NaN, when nothing was observed."""
    buckets = sum_rate(f"{histogram}_bucket", w, matchers, m, by="le")
    count = sum_rate(f"{histogram}_count", w, matchers, m)
    return (f"(histogram_quantile({q:g}, {buckets}) and on() ({count}) > 0)"
            f" or on() vector(0)")


# --- what the dashboards add: the time picker's window, grouped quantiles and shares
# that read 0 instead of NaN, and guards.
RATE = "$__rate_interval"

# Windows that deliberately ignore the time picker. A panel using one says so in its
# description (tests check both).
FIXED_WINDOWS = {
    "1d": "daily figures (the plan's daily token and request rows)",
    "5m": "the last five minutes, and the anomaly band's inner rate",
    "2h": "the golden-set canary's hit rate and checks (its runs are an hour apart)",
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
