"""Small PromQL builders shared by the SLI definitions, dashboards and rules.

`m` is an extra matcher string inserted into every selector (dashboards pass
`instance=~"$instance"`, rules pass nothing); `w` is the range (`$__rate_interval`, `5m`).
"""

from __future__ import annotations


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
