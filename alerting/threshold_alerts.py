"""A warning and a critical alert for each of the plan's 18 thresholds.

Both read the SLI's recording rule (alerting/sli.py) and share one alert name, so the
critical one inhibits the warning one in Alertmanager. Ratios need traffic before they
fire (Threshold.min_request_rate); low throughput needs demand.
"""

from __future__ import annotations

from ai_assist.telemetry import metrics as M
from alerting.model import SEVERITIES, Alert, Guidance
from alerting.threshold_guidance import CAUSES_AND_ACTIONS
from observability import uids as links
from observability.durations import COMMITTED, Scale
from observability.promql import sum_rate, total
from observability.selectors import RULES
from observability.sli import WINDOW, threshold_window, traffic_guard
from observability.thresholds import THRESHOLDS, Threshold
from observability.units import value_template, words

ACRONYMS = {"llm": "LLM", "json": "JSON", "api": "API"}
DEMAND_WORDS = ("while there is demand: requests in progress, texts queued for the "
                "embedding model, or clients refused by the rate limit")


def alert_name(row: Threshold) -> str:
    camel = "".join(ACRONYMS.get(part, part.capitalize()) for part in row.key.split("_"))
    return f"AIAssist{camel}{'High' if row.higher_is_worse else 'Low'}"


def demand(scale: Scale = COMMITTED) -> str:
    """Non-empty while requests wait or are refused for lack of capacity."""
    limited = sum_rate(M.REJECTED_REQUESTS_TOTAL, scale(WINDOW), 'reason="rate_limited"',
                       RULES)
    return (f"{total(M.IN_PROGRESS, m=RULES)} > 0\n"
            f"  or {total(M.EMBEDDING_QUEUE_DEPTH, m=RULES)} > 0\n"
            f"  or {limited} > 0")


def _condition(row: Threshold, limit: float, scale: Scale) -> str:
    op = ">" if row.higher_is_worse else "<"
    expr = f"{row.record} {op} {limit:g}"
    if row.key == "throughput":
        return f"{expr}\nand {RULES.on} (\n  {demand(scale)}\n)"
    if row.min_request_rate:
        return f"{expr}\n{traffic_guard(row.min_request_rate)}"
    return expr


def _fires_when(row: Threshold, limit: float, for_: str) -> str:
    op = ">" if row.higher_is_worse else "<"
    text = f"{row.title} {op} {words(limit, row.unit)}"
    if for_ not in ("0s", "0m"):
        text += f" for {for_}"
    if row.key == "throughput":
        return f"{text}, {DEMAND_WORDS}"
    if row.min_request_rate:
        return f"{text}, with at least {row.min_request_rate * 60:g} answered requests/min"
    return text


def threshold_alert(row: Threshold, severity: str, scale: Scale = COMMITTED) -> Alert:
    limit = row.warning if severity == "warning" else row.critical
    side = "above" if row.higher_is_worse else "below"
    goal = f"goal {'under' if row.higher_is_worse else 'above'} {words(row.goal, row.unit)}"
    for_ = scale(row.for_)
    return Alert(
        name=alert_name(row), severity=severity, expr=_condition(row, limit, scale),
        for_=for_,
        summary=f"{row.title} {side} {words(limit, row.unit)} ({severity})",
        description=(f"{row.title} is {value_template(row.unit)} over the last "
                     f"{threshold_window(row, scale)} (warning at "
                     f"{words(row.warning, row.unit)}, critical at "
                     f"{words(row.critical, row.unit)}, {goal})."),
        dashboard=links.BY_TABLE[row.table],
        fires_when=_fires_when(row, limit, for_))


def alerts(scale: Scale = COMMITTED) -> list[Alert]:
    return [threshold_alert(row, severity, scale)
            for row in THRESHOLDS for severity in SEVERITIES]


def guidance() -> dict[str, Guidance]:
    out = {}
    for row in THRESHOLDS:
        causes, actions = CAUSES_AND_ACTIONS[row.key]
        out[alert_name(row)] = Guidance(row.description, causes, actions)
    return out
