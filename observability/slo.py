"""The two SLOs and their burn-rate windows (Google SRE workbook, ch. 5).

availability: 99.9 % of answered requests get an answer (no 5xx).
latency: 95 % of answered requests finish under 30 s (the plan's "p95 under 30 s", read
as the share of requests in the le="30" bucket, which is exact where a quantile is not).

The names of the recorded error ratios, request rates and budgets are defined here; the
recording rules and alerts are alerting/slo.py, the dashboard panels dashboards/health.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ai_assist.telemetry import metrics as M
from observability import uids
from observability.durations import duration, seconds
from observability.promql import Scope, sum_rate
from observability.thresholds import BY_KEY, MIN_REQUEST_RATE, answered_rate

LATENCY_LIMIT_S = BY_KEY["latency_p95"].goal  # the plan's p95 goal, in seconds
assert LATENCY_LIMIT_S in M.REQUEST_BUCKETS, "the SLO's limit must be a bucket boundary"
# prometheus_client writes le="30.0"; other clients and Prometheus 2 scrapes may say "30".
UNDER_LIMIT = f'le=~"{LATENCY_LIMIT_S:g}(\\\\.0)?"'
SLO_WINDOW_DAYS = 30
BUDGET_WINDOW = f"{SLO_WINDOW_DAYS}d"


SLO_WINDOW_S = SLO_WINDOW_DAYS * 86400
# The short window confirms the long one at a twelfth of its length, so that an alert
# resolves soon after its cause is gone (the SRE workbook's 1 h / 5 min; Sloth's too).
SHORT_WINDOW_DIVISOR = 12


@dataclass(frozen=True)
class BurnWindow:
    """An alert that fires when `budget_share` of the SLO window's error budget would be
    spent within `long` at the current error rate (SRE workbook ch. 5, Sloth): the burn
    rate that spends it is budget_share x the SLO window / `long`."""
    long: str
    budget_share: float  # of the SLO window's error budget, spent within `long`
    severity: str  # critical pages, warning is a ticket
    for_: str

    @property
    def factor(self) -> float:
        """The burn rate: 1 spends the budget in exactly the SLO window."""
        return round(self.budget_share * SLO_WINDOW_S / seconds(self.long), 9)

    @property
    def short(self) -> str:
        return duration(seconds(self.long) / SHORT_WINDOW_DIVISOR)

    @property
    def budget_gone_in(self) -> str:
        hours = SLO_WINDOW_DAYS * 24 / self.factor
        return f"{hours:.0f} hours" if hours < 72 else f"{hours / 24:.0f} days"


BURN_WINDOWS = (
    BurnWindow("1h", 0.02, "critical", "2m"),
    BurnWindow("6h", 0.05, "critical", "15m"),
    BurnWindow("1d", 0.10, "warning", "1h"),
    BurnWindow("3d", 0.10, "warning", "3h"),
)
# Windows up to 6 h are rates of the raw counters. A day or more would read every raw
# series over that range at every evaluation (30 days of a 15 s scrape: 172,800 samples a
# series, times replicas x statuses, past Prometheus's 50 M --query.max-samples before
# 100 replicas): those come from the recorded 5-minute rates instead, one series a
# namespace (Sloth's and the kubernetes-mixin's way). A ratio of sums over the window
# weighs every 5-minute rate alike, as the requests themselves are.
SHORT_WINDOWS = ("5m", "30m", "1h", "2h", "6h")
LONG_WINDOWS = ("1d", "3d", BUDGET_WINDOW)
WINDOWS = SHORT_WINDOWS + LONG_WINDOWS
BASE_WINDOW = SHORT_WINDOWS[0]  # the recorded rates the long windows are built from


@dataclass(frozen=True)
class SLO:
    key: str
    title: str
    objective: float
    promise: str  # what the objective promises, in words
    bad_words: str  # what a bad request did
    bad: Callable[[str, Scope], str]  # bad events per second over a window
    total: Callable[[str, Scope], str]  # events per second over a window
    dashboard: str
    related: tuple[str, str]  # the Threshold keys whose alerts find the cause
    min_request_rate: float = MIN_REQUEST_RATE  # answered requests/s over the long window

    @property
    def budget(self) -> float:
        return round(1 - self.objective, 12)

    @property
    def alert_name(self) -> str:
        return f"AIAssist{self.key.capitalize()}BudgetBurn"


def _slow(w: str, m: Scope) -> str:
    every = sum_rate(f"{M.REQUEST_DURATION}_count", w, "", m)
    fast = sum_rate(f"{M.REQUEST_DURATION}_bucket", w, UNDER_LIMIT, m)
    return f"{every} - {fast}"


SLOS = (
    SLO("availability", "Availability", BY_KEY["availability"].goal,
        "of answered requests get an answer (no 5xx)", "failed (5xx)",
        lambda w, m: sum_rate(M.REQUESTS_TOTAL, w, 'status="error"', m), answered_rate,
        uids.HEALTH, ("error_rate", "availability")),
    SLO("latency", "Latency", 0.95,
        f"of answered requests finish in under {LATENCY_LIMIT_S:g} s (p95 under "
        f"{LATENCY_LIMIT_S:g} s)", f"took {LATENCY_LIMIT_S:g} s or longer", _slow,
        lambda w, m: sum_rate(f"{M.REQUEST_DURATION}_count", w, "", m), uids.REALTIME,
        ("latency_p95", "llm_p95")),
)


def error_ratio(window: str) -> str:
    return f"ai_assist:slo_error_ratio:rate{window}"


def request_rate(window: str) -> str:
    return f"ai_assist:slo_requests:rate{window}"


def error_rate(window: str) -> str:
    """Bad events per second (what the long windows sum)."""
    return f"ai_assist:slo_errors:rate{window}"


OBJECTIVE = "ai_assist:slo_objective:ratio"
BUDGET_REMAINING = f"ai_assist:slo_error_budget_remaining:ratio{BUDGET_WINDOW}"
