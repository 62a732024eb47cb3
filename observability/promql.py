"""PromQL builders shared by the SLI definitions, the dashboards and the rules.

`m` says which series a query reads: a matcher string inserted into every raw selector
(dashboards pass their template variables, e.g. `instance=~"$instance"`), or a Scope,
which also names the labels every aggregation keeps apart (the rules pass
observability.selectors.RULES: the job's series, by namespace). `w` is the range
(`$__rate_interval`, `5m`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    matchers: str = ""
    by: tuple[str, ...] = ()

    def grouping(self, by: str = "") -> str:
        extra = [label.strip() for label in by.split(",") if label.strip()]
        return ", ".join(dict.fromkeys((*self.by, *extra)))

    @property
    def on(self) -> str:
        """The vector matching of a one-to-one operation between two of its aggregates."""
        return f"on({', '.join(self.by)})"



def scope_of(m: str | Scope) -> Scope:
    return m if isinstance(m, Scope) else Scope(m)


def sel(metric: str, matchers: str = "", m: str | Scope = "") -> str:
    parts = [p for p in (matchers, scope_of(m).matchers) if p]
    return f"{metric}{{{', '.join(parts)}}}" if parts else metric


def rate(metric: str, w: str, matchers: str = "", m: str | Scope = "") -> str:
    return f"rate({sel(metric, matchers, m)}[{w}])"


def aggregate(op: str, inner: str, m: str | Scope = "", by: str = "") -> str:
    grouping = scope_of(m).grouping(by)
    return f"{op}{f' by ({grouping})' if grouping else ''}({inner})"


def sum_rate(metric: str, w: str, matchers: str = "", m: str | Scope = "",
             by: str = "") -> str:
    return aggregate("sum", rate(metric, w, matchers, m), m, by)


def sum_increase(metric: str, w: str, matchers: str = "", m: str | Scope = "",
                 by: str = "") -> str:
    return aggregate("sum", f"increase({sel(metric, matchers, m)}[{w}])", m, by)


def total(metric: str, matchers: str = "", m: str | Scope = "", op: str = "sum") -> str:
    """A gauge aggregated over the replicas (per group of a Scope)."""
    return aggregate(op, sel(metric, matchers, m), m)


def ratio(numerator: str, denominator: str, idle: float = 0, m: str | Scope = "") -> str:
    """numerator / denominator, `idle` when the denominator is 0 (never NaN). Under a
    Scope, per group: a group whose denominator is 0 reads `idle`."""
    scope = scope_of(m)
    if scope.by:
        return (f"(({numerator}) / (({denominator}) > 0)"
                f" or {scope.on} ({denominator}) * 0 + {idle:g})")
    return f"(({numerator}) / (({denominator}) > 0) or on() vector({idle:g}))"


def guarded_quantile(q: float, buckets: str, count: str, groups: str = "") -> str:
    """histogram_quantile over `buckets` (summed by le and `groups`) that reads 0, not
    NaN, where `count` (summed by `groups`) saw no observation. The quantiles themselves
    read recorded bucket rates: observability/histograms.py."""
    if groups:
        return (f"(histogram_quantile({q:g}, {buckets}) and on({groups}) {count} > 0)"
                f" or on({groups}) {count} * 0")
    return (f"(histogram_quantile({q:g}, {buckets}) and on() ({count}) > 0)"
            f" or on() vector(0)")


# --- what the dashboards add: the time picker's window, grouped shares
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


def share_by(metric: str, by: str, w: str, matchers: str = "", m: str | Scope = "") -> str:
    """Each `by` group's share of the total rate; every group 0 when the total is 0."""
    scope = scope_of(m)
    part = sum_rate(metric, w, matchers, m, by=by)
    whole = sum_rate(metric, w, matchers, m)
    return (f"({part} / {scope.on} group_left() ({whole} > 0))"
            f" or on({scope.grouping(by)}) {part} * 0")


def regex_alternatives(values) -> str:
    """A PromQL regex string body matching exactly `values` (dots escaped)."""
    return "|".join(v.replace(".", "\\\\.") for v in values)
