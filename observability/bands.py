"""The anomaly band (the plan's 3.1, the Prometheus way): mean +/- K standard deviations
of a 5-minute SLI over HISTORY, ending GAP ago.

The gap keeps a sudden jump out of its own band for a while: a band that included the
last minutes would widen with the jump and hide it. The band then adapts; a new level
that lasts becomes the new normal, and the alert resolves.

The recording rules (alerting/anomaly.py) take K, HISTORY and GAP from here, and the
real-time dashboard draws what they record.
"""

from __future__ import annotations

K = 3
HISTORY = "1h"
GAP = "10m"


def mean_and_spread(series_range: str, gap: str = GAP) -> tuple[str, str]:
    """PromQL of the band's centre and half-width over `series_range` (a range vector
    or subquery, without the offset)."""
    return (f"avg_over_time({series_range} offset {gap})",
            f"{K:g} * stddev_over_time({series_range} offset {gap})")


def record(series: str, part: str) -> str:
    """level:metric:operations: the band (`part`: mean, spread, upper, lower) of a
    recorded 5-minute series over its history. The dashboards read these recordings,
    per deployment: a band computed in the panel, a subquery of an hour at every step,
    took seconds for a 24 h range at 100 replicas (docs/operations/at-scale.md)."""
    _, metric, operations = series.split(":")
    return f"ai_assist:{metric}_{operations}:band_{part}{HISTORY}"


def describe() -> str:
    return (f"mean +/- {K:g} standard deviations of the 5-minute value over the {HISTORY} "
            f"that ended {GAP} ago")
