"""The anomaly band (the plan's 3.1, the Prometheus way): mean +/- K standard deviations
of a 5-minute SLI over HISTORY, ending GAP ago.

The gap keeps a sudden jump out of its own band for a while: a band that included the
last minutes would widen with the jump and hide it. The band then adapts; a new level
that lasts becomes the new normal, and the alert resolves.

The recording rules (alerting/anomaly.py) and the real-time dashboard, which draws the
band per selected instance, both take K, HISTORY and GAP from here.
"""

from __future__ import annotations

K = 3
HISTORY = "1h"
GAP = "10m"
DASHBOARD_STEP = "1m"  # the dashboard's subquery resolution


def mean_and_spread(series_range: str, gap: str = GAP) -> tuple[str, str]:
    """PromQL of the band's centre and half-width over `series_range` (a range vector
    or subquery, without the offset)."""
    return (f"avg_over_time({series_range} offset {gap})",
            f"{K:g} * stddev_over_time({series_range} offset {gap})")


def dashboard_band(expr_at_5m: str, side: int, history: str = HISTORY) -> str:
    """One edge of the band over an inline 5m SLI (`side` +1 upper, -1 lower).

    `expr_at_5m` must always have a sample and no NaN (the Threshold queries do), so the
    subquery has a value at every step, before the first scrape included.
    """
    mean, spread = mean_and_spread(f"({expr_at_5m})[{history}:{DASHBOARD_STEP}]")
    if side > 0:
        return f"{mean} + {spread}"
    return f"clamp_min({mean} - {spread}, 0)"


def describe() -> str:
    return (f"mean +/- {K:g} standard deviations of the 5-minute value over the {HISTORY} "
            f"that ended {GAP} ago")
