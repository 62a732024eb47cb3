"""The A/B experiment row's queries: the running experiment's variants side by side (the
`variant` label of the request metrics, ai_assist/experiments). Variant "none" (no
experiment, or refused before assignment) is left out. Per-variant ratios read 0 for a
variant that had no requests in the window (no NaN)."""

from __future__ import annotations

from ai_assist.experiments import VARIANT_NONE
from ai_assist.telemetry import metrics as M

from observability.cost import cost_usd_per_second
from observability import histograms as H
from observability.promql import RATE, per_minute, sel, sum_rate

ANSWERED = 'status=~"success|fallback|error"'
IN_EXPERIMENT = f'variant!="{VARIANT_NONE}"'


def _m(m: str) -> str:
    """The panel's matcher and the experiment's variants only."""
    return f"{m}, {IN_EXPERIMENT}" if m else IN_EXPERIMENT


def _ratio_by_variant(numerator: str, denominator: str) -> str:
    return f"({numerator}) / (({denominator}) > 0) or on(variant) ({denominator}) * 0"


def answered_by_variant(m: str, w: str = RATE) -> str:
    return sum_rate(M.REQUESTS_TOTAL, w, ANSWERED, _m(m), by="variant")


def requests_per_minute_by_variant(m: str, w: str = RATE) -> str:
    return per_minute(answered_by_variant(m, w))


def success_rate_by_variant(m: str, w: str = RATE) -> str:
    return _ratio_by_variant(sum_rate(M.REQUESTS_TOTAL, w, 'status="success"', _m(m),
                                      by="variant"), answered_by_variant(m, w))


def confidence_by_variant(m: str, w: str = RATE) -> str:
    return _ratio_by_variant(sum_rate(f"{M.CONFIDENCE}_sum", w, "", _m(m), by="variant"),
                             sum_rate(f"{M.CONFIDENCE}_count", w, "", _m(m), by="variant"))


def latency_p95_by_variant(m: str) -> str:
    """From the recorded 5-minute bucket rates (observability/histograms.py)."""
    return H.quantile(0.95, H.REQUESTS, IN_EXPERIMENT, m, by="variant")


def tokens_per_request_by_variant(m: str, w: str = RATE) -> str:
    return _ratio_by_variant(sum_rate(M.REQUEST_TOKENS_TOTAL, w, "", _m(m), by="variant"),
                             answered_by_variant(m, w))


def cost_per_request_by_variant(m: str, w: str = RATE) -> str:
    spend = f"sum by (variant) ({cost_usd_per_second(_m(m), w, by='model, variant')})"
    return _ratio_by_variant(spend, answered_by_variant(m, w))


def excluded_per_minute_by_reason(m: str, w: str = RATE) -> str:
    """Requests left out of the comparison (forced by a QA credential, or answered from
    the cache), per minute, by reason and by the variant that served them."""
    return per_minute(sum_rate(M.EXPERIMENT_EXCLUDED_TOTAL, w, "", _m(m),
                               by="reason, variant"))


def running_experiment(m: str) -> str:
    return f"max by (experiment, variant) ({sel(M.EXPERIMENT_VARIANT_WEIGHT, m=m)})"
