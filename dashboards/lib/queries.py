"""Named queries: one function per figure a panel shows, each returning PromQL.

`m` is the matcher string (variables.INSTANCE, or INSTANCE_AND_MODEL on the cost
dashboard); `w` the rate window. The SLIs of the plan's 18 rows come from
observability/thresholds.py, not from here.
"""

from __future__ import annotations

from ai_assist.pricing import PRICES
from ai_assist.telemetry import metrics as M
from observability import autoscaling as AUTOSCALING
from observability.cost import COST_RATE_RECORD, SECONDS_PER_MONTH, cost_usd_per_second
from observability import histograms as H
from observability.promql import (
    RATE,
    per_minute,
    ratio,
    regex_alternatives,
    sel,
    share_by,
    sum_rate,
    zero_when_absent,
)
from observability.thresholds import BY_KEY, answered_rate
from dashboards.lib.variables import DEPLOYMENT



def _increase(metric: str, window: str, matchers: str, m: str) -> str:
    return zero_when_absent(f"sum(increase({sel(metric, matchers, m)}[{window}]))")


# --- traffic -----------------------------------------------------------------------
def requests_per_minute_by_status(m: str, w: str = RATE) -> str:
    return per_minute(sum_rate(M.REQUESTS_TOTAL, w, "", m, by="status"))


def requests_in_window(m: str, window: str, status: str = "") -> str:
    """Requests of every status (or one) over a fixed window."""
    return _increase(M.REQUESTS_TOTAL, window, f'status="{status}"' if status else "", m)


def gemini_retries_in_window(m: str, window: str) -> str:
    return _increase(M.GEMINI_RETRIES_TOTAL, window, "", m)


def gemini_timeouts_in_window(m: str, window: str) -> str:
    return _increase(M.GEMINI_CALLS_TOTAL, window, 'outcome="timeout"', m)


def in_progress(m: str) -> str:
    return zero_when_absent(f"sum({sel(M.IN_PROGRESS, m=m)})")


def rejected_per_minute_by_reason(m: str, w: str = RATE) -> str:
    return per_minute(sum_rate(M.REJECTED_REQUESTS_TOTAL, w, "", m, by="reason"))


# --- latency -----------------------------------------------------------------------
# Quantiles read the recorded 5-minute bucket rates (observability/histograms.py): their
# panels say "fixed 5m window". `exemplars`: the raw buckets' trace ids for the panel.
def request_latency(q: float, m: str, exemplars: bool = True) -> str:
    return H.quantile(q, H.REQUESTS, "", m, exemplars=exemplars)


def stage_latency(q: float, m: str, exemplars: bool = False) -> str:
    return H.quantile(q, H.STAGES, "", m, by="stage", exemplars=exemplars)


# --- embedding queue ---------------------------------------------------------------
def queue_depth(m: str) -> str:
    return zero_when_absent(f"sum({sel(M.EMBEDDING_QUEUE_DEPTH, m=m)})")


def batch_size_mean(m: str, w: str = RATE) -> str:
    return ratio(sum_rate(f"{M.EMBEDDING_BATCH_SIZE}_sum", w, "", m),
                 sum_rate(f"{M.EMBEDDING_BATCH_SIZE}_count", w, "", m))


def batch_size_quantile(q: float, m: str) -> str:
    return H.quantile(q, H.BATCH_SIZE, "", m)


# --- autoscaling (service-wide: the recording rules of observability/autoscaling.py) --
def desired_replicas() -> str:
    return sel(AUTOSCALING.DESIRED, DEPLOYMENT)


def replicas_counted() -> str:
    return sel(AUTOSCALING.REPLICAS, DEPLOYMENT)


# --- quality -----------------------------------------------------------------------
def json_parse_per_minute_by_result(m: str, w: str = RATE) -> str:
    return per_minute(sum_rate(M.JSON_PARSE_TOTAL, w, "", m, by="result"))


def fallbacks_per_minute_by_reason(m: str, w: str = RATE) -> str:
    return per_minute(sum_rate(M.FALLBACKS_TOTAL, w, "", m, by="reason"))


def match_share_by_framework(m: str, w: str = RATE) -> str:
    return share_by(M.MATCHES_TOTAL, "framework", w, "", m)


def matches_per_minute_by_framework(m: str, w: str = RATE) -> str:
    return per_minute(sum_rate(M.MATCHES_TOTAL, w, "", m, by="framework"))


def framework_requests_per_minute(m: str, w: str = RATE) -> str:
    return per_minute(sum_rate(M.FRAMEWORK_REQUESTS_TOTAL, w, "", m, by="framework"))


def top_similarity(q: float, m: str) -> str:
    return H.quantile(q, H.SIMILARITY, "", m)


# --- tokens and cost ---------------------------------------------------------------
def tokens_per_minute_by_type(m: str, w: str = RATE) -> str:
    return per_minute(sum_rate(M.GEMINI_TOKENS_TOTAL, w, "", m, by="type"))


def wasted_tokens_per_minute_by_reason(m: str, w: str = RATE) -> str:
    return per_minute(sum_rate(M.GEMINI_WASTED_TOKENS_TOTAL, w, "", m, by="reason"))


def cost_usd_per_second_by_model(m: str, w: str = RATE) -> str:
    """Spend rate per model from the token counters and the price table."""
    return cost_usd_per_second(m, w)


def projected_monthly_cost_usd(m: str) -> str:
    """The recorded spend rate over the last day (observability/cost.py) x 30 days."""
    return zero_when_absent(f"sum({sel(COST_RATE_RECORD, m=m)}) * {SECONDS_PER_MONTH}")


def cost_usd_per_hour_by_model(m: str, w: str = RATE) -> str:
    return f"({cost_usd_per_second_by_model(m, w)}) * 3600"


def unpriced_tokens_per_minute(m: str, w: str = RATE) -> str:
    priced = f'model!~"{regex_alternatives(sorted(PRICES))}"'
    return zero_when_absent(per_minute(sum_rate(M.GEMINI_TOKENS_TOTAL, w, priced, m)))


def token_efficiency(m: str, w: str = RATE) -> str:
    """1 - wasted / used tokens; 1 when no token was used."""
    return "1 - " + wasted_token_share(m, w)


def requests_per_day(m: str) -> str:
    return requests_in_window(m, "1d")


# --- optimisation suggestions ------------------------------------------------------
def prompt_reduction_to_goal(m: str, w: str = RATE) -> str:
    """Share by which the average prompt must shrink to meet the input-token goal."""
    goal = BY_KEY["avg_input_tokens"].goal
    average = BY_KEY["avg_input_tokens"].expr(w, m)
    return zero_when_absent(f"clamp_min(1 - {goal:g} / (({average}) > 0), 0)")


def cache_potential(m: str, w: str = RATE) -> str:
    """Share of answered requests whose text was mapped recently."""
    return ratio(sum_rate(M.DUPLICATE_REQUESTS_TOTAL, w, "", m), answered_rate(w, m))


def retries_denied_per_minute_by_reason(m: str, w: str = RATE) -> str:
    return per_minute(sum_rate(M.GEMINI_RETRIES_DENIED_TOTAL, w, "", m, by="reason"))


def admin_auth_failures_per_minute_by_outcome(m: str, w: str = RATE) -> str:
    return per_minute(sum_rate(M.ADMIN_AUTH_FAILURES_TOTAL, w, "", m, by="outcome"))


def wasted_token_share(m: str, w: str = RATE) -> str:
    return ratio(sum_rate(M.GEMINI_WASTED_TOKENS_TOTAL, w, "", m),
                 sum_rate(M.GEMINI_TOKENS_TOTAL, w, "", m))


def recall_share_bad_answers(m: str, w: str = RATE) -> str:
    """Share of Gemini calls that repeat a call whose answer was unusable."""
    bad = f'reason=~"{"|".join(M.WASTE_REASONS)}"'
    return ratio(sum_rate(M.GEMINI_RETRIES_TOTAL, w, bad, m),
                 sum_rate(M.GEMINI_CALLS_TOTAL, w, "", m))


# --- the response cache (ai_assist/mapping/cache.py) -------------------------------
def cache_hit_ratio(m: str, w: str = RATE) -> str:
    """Hits / lookups; 0 when no lookup was made (cache off or idle)."""
    return ratio(sum_rate(M.CACHE_LOOKUPS_TOTAL, w, 'result="hit"', m),
                 sum_rate(M.CACHE_LOOKUPS_TOTAL, w, "", m))


def cache_lookups_per_minute_by_result(m: str, w: str = RATE) -> str:
    return per_minute(sum_rate(M.CACHE_LOOKUPS_TOTAL, w, "", m, by="result"))


def cache_tokens_saved_per_minute_by_type(m: str, w: str = RATE) -> str:
    return zero_when_absent(per_minute(sum_rate(M.CACHE_TOKENS_SAVED_TOTAL, w, "", m,
                                                by="type")))


def cache_usd_saved_per_hour_by_model(m: str, w: str = RATE) -> str:
    """What the hits' tokens would have cost, by the price table (as the spend rate)."""
    return zero_when_absent(
        f"({cost_usd_per_second(m, w, metric=M.CACHE_TOKENS_SAVED_TOTAL)}) * 3600")


def cache_errors_per_minute_by_operation(m: str, w: str = RATE) -> str:
    return per_minute(sum_rate(M.CACHE_ERRORS_TOTAL, w, "", m, by="operation"))


# --- health ------------------------------------------------------------------------
def health_by_component(m: str) -> str:
    return f"min by (component) ({sel(M.HEALTH_STATUS, m=m)})"


def circuit_state(m: str) -> str:
    """Each replica's Gemini circuit breaker: 0 closed, 1 half-open, 2 open."""
    return f"max by (instance) ({sel(M.CIRCUIT_STATE, m=m)})"


def per_minute_total(metric: str, m: str, w: str = RATE) -> str:
    return zero_when_absent(per_minute(sum_rate(metric, w, "", m)))


def gemini_in_flight(m: str) -> str:
    return zero_when_absent(f"sum({sel(M.GEMINI_IN_FLIGHT, m=m)})")


def build_info(m: str) -> str:
    return (f"max by (instance, version, embedding_model, llm_model, device) "
            f"({sel(M.BUILD_INFO, m=m)})")


def uptime(m: str, window: str = "$__range") -> str:
    """Share of scrapes that reached the service (Prometheus's own `up`)."""
    return zero_when_absent(
        f"avg(avg_over_time({sel('up', m=m)}[{window}]))")


def replicas_up(m: str) -> str:
    return zero_when_absent(f"sum({sel('up', m=m)})")


def errors_per_minute_by_type_and_severity(m: str, w: str = RATE) -> str:
    return per_minute(sum_rate(M.ERRORS_TOTAL, w, "", m, by="error_type, severity"))


def errors_per_minute_by_severity(m: str, w: str = RATE) -> str:
    return per_minute(sum_rate(M.ERRORS_TOTAL, w, "", m, by="severity"))


def gpu_devices(m: str) -> str:
    return zero_when_absent(f"max({sel(M.GPU_DEVICES, m=m)})")


def gpu_utilization(m: str) -> str:
    return zero_when_absent(f"max by (instance, gpu) ({sel(M.GPU_UTILIZATION, m=m)})")


def gpu_memory(metric: str, m: str) -> str:
    return zero_when_absent(f"sum by (instance, gpu) ({sel(metric, m=m)})")


def catalogue_by_framework(m: str) -> str:
    return f"max by (framework) ({sel(M.CATALOGUE_DISCLOSURES, m=m)})"
