"""The two SLOs' multi-window multi-burn-rate alerts (the SLOs themselves are
observability/slo.py).

Recording rules keep each SLO's error ratio and request rate over every window the alerts
use, plus 30 days, and the error budget left over those 30 days, for dashboards.
"""

from __future__ import annotations

from alerting.model import Alert, Guidance, Recording
from alerting.threshold_alerts import alert_name
from observability.durations import COMMITTED, Scale
from observability.promql import ratio
from observability.selectors import RULES
from observability.slo import (
    BUDGET_REMAINING,
    BUDGET_WINDOW,
    BURN_WINDOWS,
    OBJECTIVE,
    SLO,
    SLO_WINDOW_DAYS,
    BASE_WINDOW,
    LONG_WINDOWS,
    SHORT_WINDOWS,
    SLOS,
    BurnWindow,
    error_rate,
    error_ratio,
    request_rate,
)
from observability.thresholds import BY_KEY
from observability.units import value_template, words


def sli_recordings(scale: Scale = COMMITTED) -> list[Recording]:
    """Each SLO's error ratio and request rate over every window: over the raw metrics up
    to SHORT_WINDOWS, over the recorded BASE_WINDOW rates past them (observability/slo.py
    says why); the bad events' BASE_WINDOW rate too, which the long windows sum."""
    rules = []
    for slo in SLOS:
        labels = {"slo": slo.key}
        for window in SHORT_WINDOWS:
            w = scale(window)
            rules.append(Recording(error_ratio(window),
                                   ratio(slo.bad(w, RULES), slo.total(w, RULES), m=RULES),
                                   labels))
            rules.append(Recording(request_rate(window), slo.total(w, RULES), labels))
            if window == BASE_WINDOW:
                rules.append(Recording(error_rate(window), slo.bad(w, RULES), labels))
        match = f'{{slo="{slo.key}"}}'
        for window in LONG_WINDOWS:
            w = scale(window)
            bad = f"sum_over_time({error_rate(BASE_WINDOW)}{match}[{w}])"
            total = f"sum_over_time({request_rate(BASE_WINDOW)}{match}[{w}])"
            rules.append(Recording(error_ratio(window), ratio(bad, total, m=RULES), labels))
            rules.append(Recording(request_rate(window),
                                   f"avg_over_time({request_rate(BASE_WINDOW)}{match}[{w}])",
                                   labels))
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
