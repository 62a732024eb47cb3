"""The two SLOs, with multi-window multi-burn-rate alerts (Google SRE workbook, ch. 5).

availability: 99.9 % of answered requests get an answer (no 5xx).
latency: 95 % of answered requests finish under 30 s (the plan's "p95 under 30 s", read
as the share of requests in the le="30" bucket, which is exact where a quantile is not).

Recording rules keep each SLO's error ratio and request rate over every window the alerts
use, plus 30 days, and the error budget left over those 30 days, for dashboards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ai_assist.telemetry import metrics as M

from alerting import links
from alerting.durations import COMMITTED, Scale
from alerting.model import Alert, Guidance, Recording
from alerting.promql import ratio, sum_rate
from alerting.threshold_alerts import alert_name
from alerting.thresholds import BY_KEY, MIN_REQUEST_RATE, answered_rate
from alerting.units import value_template, words

LATENCY_LIMIT_S = BY_KEY["latency_p95"].goal  # the plan's p95 goal, in seconds
assert LATENCY_LIMIT_S in M.REQUEST_BUCKETS, "the SLO's limit must be a bucket boundary"
# prometheus_client writes le="30.0"; other clients and Prometheus 2 scrapes may say "30".
UNDER_LIMIT = f'le=~"{LATENCY_LIMIT_S:g}(\\\\.0)?"'
SLO_WINDOW_DAYS = 30
BUDGET_WINDOW = f"{SLO_WINDOW_DAYS}d"


@dataclass(frozen=True)
class BurnWindow:
    long: str
    short: str
    factor: float  # burn rate: 1 spends the budget in exactly the SLO window
    severity: str  # critical pages, warning is a ticket
    for_: str

    @property
    def budget_gone_in(self) -> str:
        hours = SLO_WINDOW_DAYS * 24 / self.factor
        return f"{hours:.0f} hours" if hours < 72 else f"{hours / 24:.0f} days"


BURN_WINDOWS = (
    BurnWindow("1h", "5m", 14.4, "critical", "2m"),
    BurnWindow("6h", "30m", 6, "critical", "15m"),
    BurnWindow("1d", "2h", 3, "warning", "1h"),
    BurnWindow("3d", "6h", 1, "warning", "3h"),
)
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d", BUDGET_WINDOW)


@dataclass(frozen=True)
class SLO:
    key: str
    title: str
    objective: float
    promise: str  # what the objective promises, in words
    bad_words: str  # what a bad request did
    bad: Callable[[str], str]  # bad events per second over a window
    total: Callable[[str], str]  # events per second over a window
    dashboard: str
    related: tuple[str, str]  # the Threshold keys whose alerts find the cause
    min_request_rate: float = MIN_REQUEST_RATE  # answered requests/s over the long window

    @property
    def budget(self) -> float:
        return round(1 - self.objective, 12)

    @property
    def alert_name(self) -> str:
        return f"AIAssist{self.key.capitalize()}BudgetBurn"


def _slow(w: str) -> str:
    every = sum_rate(f"{M.REQUEST_DURATION}_count", w)
    fast = sum_rate(f"{M.REQUEST_DURATION}_bucket", w, UNDER_LIMIT)
    return f"{every} - {fast}"


SLOS = (
    SLO("availability", "Availability", BY_KEY["availability"].goal,
        "of answered requests get an answer (no 5xx)", "failed (5xx)",
        lambda w: sum_rate(M.REQUESTS_TOTAL, w, 'status="error"'), answered_rate,
        links.HEALTH, ("error_rate", "availability")),
    SLO("latency", "Latency", 0.95,
        f"of answered requests finish in under {LATENCY_LIMIT_S:g} s (p95 under "
        f"{LATENCY_LIMIT_S:g} s)", f"took {LATENCY_LIMIT_S:g} s or longer", _slow,
        lambda w: sum_rate(f"{M.REQUEST_DURATION}_count", w), links.REALTIME,
        ("latency_p95", "llm_p95")),
)


def error_ratio(window: str) -> str:
    return f"ai_assist:slo_error_ratio:rate{window}"


def request_rate(window: str) -> str:
    return f"ai_assist:slo_requests:rate{window}"


OBJECTIVE = "ai_assist:slo_objective:ratio"
BUDGET_REMAINING = f"ai_assist:slo_error_budget_remaining:ratio{BUDGET_WINDOW}"


def sli_recordings(scale: Scale = COMMITTED) -> list[Recording]:
    """Over raw metrics: each SLO's error ratio and request rate over every window."""
    rules = []
    for slo in SLOS:
        for window in WINDOWS:
            w = scale(window)
            rules.append(Recording(error_ratio(window), ratio(slo.bad(w), slo.total(w)),
                                   {"slo": slo.key}))
            rules.append(Recording(request_rate(window), slo.total(w), {"slo": slo.key}))
    return rules


def budget_recordings() -> list[Recording]:
    """Over the recorded ratios: the objective and the share of the budget left."""
    rules = []
    for slo in SLOS:
        rules.append(Recording(OBJECTIVE, f"vector({slo.objective:g})", {"slo": slo.key}))
        rules.append(Recording(
            BUDGET_REMAINING,
            f'1 - {error_ratio(BUDGET_WINDOW)}{{slo="{slo.key}"}} / {slo.budget:g}',
            {"slo": slo.key}))
    return rules


def burn_alert(slo: SLO, burn: BurnWindow, scale: Scale = COMMITTED) -> Alert:
    limit = f"{burn.factor * slo.budget:g}"
    match = f'{{slo="{slo.key}"}}'
    long, short = scale(burn.long), scale(burn.short)
    expr = (f"{error_ratio(burn.long)}{match} > {limit}\n"
            f"and {error_ratio(burn.short)}{match} > {limit}\n"
            f"and {request_rate(burn.long)}{match} >= {slo.min_request_rate:g}")
    percent = words(burn.factor * slo.budget, "percentunit")
    action = "page" if burn.severity == "critical" else "ticket"
    return Alert(
        name=slo.alert_name, severity=burn.severity, expr=expr, for_=scale(burn.for_),
        summary=f"{slo.title} SLO error budget burning {burn.factor:g}x too fast "
                f"({burn.severity})",
        description=(f"{value_template('percentunit')} of answered requests {slo.bad_words}"
                     f" over the last {long} (and over {percent} over the last {short}): the "
                     f"{SLO_WINDOW_DAYS}-day error budget of {words(slo.budget, 'percentunit')}"
                     f" burns at over {burn.factor:g}x and would be gone in "
                     f"{burn.budget_gone_in}. "
                     f"SLO: {words(slo.objective, 'percentunit')} {slo.promise}."),
        dashboard=slo.dashboard,
        fires_when=(f"Over {percent} of requests {slo.bad_words} ({burn.factor:g}x the "
                    f"budget) over both {long} and {short}, for {scale(burn.for_)} "
                    f"({action})"),
        labels={"slo": slo.key, "long_window": burn.long, "short_window": burn.short})


def alerts(scale: Scale = COMMITTED) -> list[Alert]:
    return [burn_alert(slo, burn, scale) for slo in SLOS for burn in BURN_WINDOWS]


def guidance() -> dict[str, Guidance]:
    pages = " or ".join(f"{b.factor:g}x over {b.long}" for b in BURN_WINDOWS
                        if b.severity == "critical")
    tickets = " or ".join(f"{b.factor:g}x over {b.long}" for b in BURN_WINDOWS
                          if b.severity == "warning")
    out = {}
    for slo in SLOS:
        first, second = (alert_name(BY_KEY[key]) for key in slo.related)
        out[slo.alert_name] = Guidance(
            meaning=(f"SLO: {words(slo.objective, 'percentunit')} {slo.promise}, over "
                     f"{SLO_WINDOW_DAYS} days; the error budget is the other "
                     f"{words(slo.budget, 'percentunit')}. The alert compares how fast "
                     f"requests {slo.bad_words} with how fast the budget may be spent: "
                     f"critical (page) at {pages}, warning (ticket) at {tickets}, each "
                     f"confirmed by a short window so that it resolves soon after the cause "
                     f"is gone. The labels "
                     f"long_window and short_window say which pair fired."),
            causes=(f"The same causes as [{first}](#{first.lower()}) and "
                    f"[{second}](#{second.lower()}): this alert says how much of the "
                    f"month's budget they cost.",),
            actions=(
                f"Open the dashboard and find the cause through [{first}](#{first.lower()}).",
                f"Read the budget left: `{BUDGET_REMAINING}{{slo=\"{slo.key}\"}}` (1 = "
                f"untouched, 0 = spent) and the error ratio per window, "
                f"`{error_ratio('1h')}{{slo=\"{slo.key}\"}}` and its siblings.",
                "A page (critical) needs action now; a ticket (warning) within working "
                "hours. With the budget spent, hold risky deploys until it recovers."))
    return out
