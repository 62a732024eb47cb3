"""The plan's four metric tables: 18 metrics, each with goal, warning and critical.

One row here drives a dashboard panel (its query, unit and colours), a recording rule,
and a warning and a critical alert. Ratios are fractions (0.9 is 90 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ai_assist.telemetry import metrics as M
from observability import histograms as H
from observability.promql import Scope, ratio, sum_increase, sum_rate

Query = Callable[[str, "str | Scope"], str]  # (window, selection) -> PromQL
# The traffic guard of ratio alerts: answered requests/s over the window, so that one
# failed request at night does not page.
MIN_REQUEST_RATE = 0.01


@dataclass(frozen=True)
class Threshold:
    key: str
    table: str  # performance | quality | cost | stability
    title: str
    unit: str  # Grafana unit id
    goal: float
    warning: float
    critical: float
    higher_is_worse: bool
    description: str
    query: Query
    # Alerts on this row need this much traffic (requests/s over the window) to fire.
    min_request_rate: float = 0.0
    # daily figures and quantiles (recorded 5-minute bucket rates) ignore the dashboard's
    # window
    fixed_window: str = ""
    for_: str = "5m"
    # A daily row is this counter's increase over its fixed window; its recording rule
    # reads a per-replica sum of it, not the raw series (observability/sli.py).
    counter: str = ""
    # A quantile row: the recorded histogram and label filter it reads, for the raw
    # buckets' exemplars (trace ids) on its panel (histograms.exemplar_term).
    histogram: tuple[H.RecordedHistogram, str] | None = None

    def expr(self, w: str = "5m", m: str | Scope = "") -> str:
        return self.query(self.fixed_window or w, m)

    def expr_with_exemplars(self, w: str, m: str) -> str:
        """The panel's query, carrying the raw buckets for Grafana's exemplar query."""
        if self.histogram is None:
            return self.expr(w, m)
        histogram, matchers = self.histogram
        return f"{H.exemplar_term(histogram, matchers, m)} or {self.expr(w, m)}"

    @property
    def record(self) -> str:
        """Name of the recording rule that holds this SLI for alerts (level:metric:
        operations: a daily row is an increase over its day, the others rates)."""
        operation = "increase" if self.counter else "rate"
        return f"ai_assist:{self.key}:{operation}{self.fixed_window or '5m'}"


def answered_rate(w: str, m: str | Scope = "") -> str:
    """Requests that reached the pipeline (success, fallback, error) per second."""
    return sum_rate(M.REQUESTS_TOTAL, w, 'status=~"success|fallback|error"', m)


def _status_ratio(status: str) -> Query:
    return lambda w, m: ratio(sum_rate(M.REQUESTS_TOTAL, w, f'status="{status}"', m),
                              answered_rate(w, m), m=m)


def _p(q: float) -> Query:
    """End-to-end time, from the recorded bucket rates (their window: H.WINDOW)."""
    return lambda w, m: H.quantile(q, H.REQUESTS, "", m)


def _stage_p95(stage: str) -> Query:
    return lambda w, m: H.quantile(0.95, H.STAGES, f'stage="{stage}"', m)


def _per_call(types: str) -> Query:
    return lambda w, m: ratio(sum_rate(M.GEMINI_TOKENS_TOTAL, w, f'type=~"{types}"', m),
                              sum_rate(M.GEMINI_CALLS_TOTAL, w, 'outcome="ok"', m), m=m)


def _gemini_call_ratio(numerator_metric: str, matchers: str = "") -> Query:
    return lambda w, m: ratio(sum_rate(numerator_metric, w, matchers, m),
                              sum_rate(M.GEMINI_CALLS_TOTAL, w, "", m), m=m)


def _success_ratio(metric: str, bad: str) -> Query:
    """1 - bad share; idle reads as 1 (no failures)."""
    return lambda w, m: "1 - " + ratio(sum_rate(metric, w, bad, m), sum_rate(metric, w, "", m),
                                       m=m)


THRESHOLDS: tuple[Threshold, ...] = (
    # --- performance ---------------------------------------------------------------
    Threshold("latency_p95", "performance", "Response time (p95)", "s", 30, 45, 60, True,
              "95th percentile of end-to-end mapping time. Goal under 30 s.",
              _p(0.95), min_request_rate=MIN_REQUEST_RATE, fixed_window=H.WINDOW,
              histogram=(H.REQUESTS, "")),
    Threshold("latency_p99", "performance", "Response time (p99)", "s", 45, 60, 90, True,
              "99th percentile of end-to-end mapping time. Goal under 45 s.",
              _p(0.99), min_request_rate=MIN_REQUEST_RATE, fixed_window=H.WINDOW,
              histogram=(H.REQUESTS, "")),
    Threshold("throughput", "performance", "Throughput", "reqpm", 100, 50, 20, False,
              "Mapping requests answered per minute. Goal above 100 req/min; alerts only "
              "while there is demand (requests in progress or queued, or clients rate "
              "limited), since low traffic alone is no fault.",
              lambda w, m: f"({answered_rate(w, m)}) * 60", for_="10m"),
    Threshold("embedding_p95", "performance", "Embedding time (p95)", "s", 1, 2, 5, True,
              "95th percentile of the embedding stage (queue wait and model). Goal under 1 s.",
              _stage_p95("embedding"), min_request_rate=MIN_REQUEST_RATE,
              fixed_window=H.WINDOW, histogram=(H.STAGES, 'stage="embedding"')),
    Threshold("vector_search_p95", "performance", "Vector search time (p95)", "s",
              0.5, 1, 2, True,
              "95th percentile of the ChromaDB query. Goal under 0.5 s.",
              _stage_p95("vector_search"), min_request_rate=MIN_REQUEST_RATE,
              fixed_window=H.WINDOW, histogram=(H.STAGES, 'stage="vector_search"')),
    Threshold("llm_p95", "performance", "LLM call time (p95)", "s", 15, 30, 60, True,
              "95th percentile of the Gemini stage, retries included. Goal under 15 s.",
              _stage_p95("llm"), min_request_rate=MIN_REQUEST_RATE, fixed_window=H.WINDOW,
              histogram=(H.STAGES, 'stage="llm"')),
    # --- quality -------------------------------------------------------------------
    Threshold("match_success", "quality", "Match success rate", "percentunit",
              0.90, 0.80, 0.70, False,
              "Share of answered requests with at least one disclosure at confidence "
              ">= 0.6. Goal above 90 %. Reads 100 % when idle.",
              _success_ratio(M.MATCH_RESULTS_TOTAL, 'result="unmatched"'),
              min_request_rate=MIN_REQUEST_RATE, for_="10m"),
    Threshold("avg_confidence", "quality", "Average confidence", "none",
              0.80, 0.70, 0.60, False,
              "Mean of the requests' average match confidence (0..1). Goal above 0.80. "
              "Reads 0 when no request was answered in the window.",
              lambda w, m: ratio(sum_rate(f"{M.CONFIDENCE}_sum", w, "", m),
                                 sum_rate(f"{M.CONFIDENCE}_count", w, "", m), m=m),
              min_request_rate=MIN_REQUEST_RATE, for_="10m"),
    Threshold("json_parse_success", "quality", "JSON parse success rate", "percentunit",
              0.95, 0.90, 0.85, False,
              "Share of Gemini answers that parsed as JSON, as returned or after repair. "
              "Goal above 95 %. Reads 100 % when idle.",
              _success_ratio(M.JSON_PARSE_TOTAL, 'result="failed"'),
              min_request_rate=MIN_REQUEST_RATE),
    Threshold("fallback_ratio", "quality", "Fallback ratio", "percentunit",
              0.05, 0.10, 0.20, True,
              "Share of answered requests served by the embedding-only fallback because "
              "the LLM failed or is off. Goal under 5 %.",
              _status_ratio("fallback"), min_request_rate=MIN_REQUEST_RATE),
    # --- cost ----------------------------------------------------------------------
    Threshold("daily_tokens", "cost", "Daily token usage", "short", 1e6, 5e6, 10e6, True,
              "Gemini tokens (input + output + thinking) over the last 24 h. Goal under 1M.",
              lambda w, m: sum_increase(M.GEMINI_TOKENS_TOTAL, w, m=m),
              fixed_window="1d", for_="0m", counter=M.GEMINI_TOKENS_TOTAL),
    Threshold("avg_input_tokens", "cost", "Average input tokens", "short",
              2000, 3000, 4000, True,
              "Prompt tokens per successful Gemini call (the part served from Gemini's "
              "context cache included). Goal under 2000.",
              _per_call("input|cached_input"), min_request_rate=MIN_REQUEST_RATE),
    Threshold("avg_output_tokens", "cost", "Average output tokens", "short",
              1000, 2000, 3000, True,
              "Output plus thinking tokens (both billed as output) per successful Gemini "
              "call. Goal under 1000.",
              _per_call("output|thinking"), min_request_rate=MIN_REQUEST_RATE),
    Threshold("daily_api_requests", "cost", "API requests per day (RPD)", "short",
              10_000, 50_000, 100_000, True,
              "Gemini generateContent calls over the last 24 h, retries included (what "
              "the quota counts). Goal under 10k.",
              lambda w, m: sum_increase(M.GEMINI_CALLS_TOTAL, w, m=m),
              fixed_window="1d", for_="0m", counter=M.GEMINI_CALLS_TOTAL),
    # --- stability -----------------------------------------------------------------
    Threshold("error_rate", "stability", "Error rate", "percentunit", 0.01, 0.05, 0.10, True,
              "Share of answered requests that failed with a server error (no answer, "
              "5xx). Degraded answers from the fallback are not errors. Goal under 1 %.",
              _status_ratio("error"), min_request_rate=MIN_REQUEST_RATE),
    Threshold("retry_ratio", "stability", "Retry ratio", "percentunit", 0.05, 0.15, 0.30, True,
              "Share of Gemini calls that were retries of a failed attempt. Goal under 5 %.",
              _gemini_call_ratio(M.GEMINI_RETRIES_TOTAL),
              min_request_rate=MIN_REQUEST_RATE),
    Threshold("timeout_ratio", "stability", "Timeout ratio", "percentunit",
              0.01, 0.03, 0.05, True,
              "Share of Gemini calls that hit the per-call timeout. Goal under 1 %.",
              _gemini_call_ratio(M.GEMINI_CALLS_TOTAL, 'outcome="timeout"'),
              min_request_rate=MIN_REQUEST_RATE),
    Threshold("availability", "stability", "Availability", "percentunit",
              0.999, 0.99, 0.95, False,
              "Share of answered requests that got an answer (no 5xx), fallbacks "
              "included. Goal above 99.9 %. Reads 100 % when idle.",
              lambda w, m: "1 - " + _status_ratio("error")(w, m),
              min_request_rate=MIN_REQUEST_RATE),
)

BY_KEY: dict[str, Threshold] = {t.key: t for t in THRESHOLDS}
TABLES = ("performance", "quality", "cost", "stability")

# The golden-set canary (ai_assist/canary.py): its hit rate per language over
# CANARY_WINDOW. Baseline: the shipped golden set hits every passage (1.0 in both
# languages) on the embedded default with the emulator (`python -m ai_assist.canary`);
# warning when more than one passage in five misses, critical when half do.
CANARY_WINDOW = "2h"  # two runs at the compose stack's hourly interval
CANARY_BASELINE = 1.0
CANARY_HIT_RATIO_WARNING = 0.8
CANARY_HIT_RATIO_CRITICAL = 0.5
