"""AI Assist - Real-time Monitor: the plan's dashboard 1, plus stages, load and the
anomaly bands."""

from __future__ import annotations

from ai_assist.telemetry import metrics as M
from dashboards.lib import queries as Q
from dashboards.lib.layout import dashboard as build
from dashboards.lib.layout import section
from dashboards.lib.panels import (
    band_overrides,
    prom,
    stat,
    threshold_description,
    threshold_stat,
    threshold_steps,
    timeseries,
)
from dashboards.lib.variables import DEPLOYMENT
from dashboards.lib.variables import INSTANCE as m
from observability import autoscaling, bands, uids
from observability import histograms as H
from observability.promql import RATE, sel
from observability.thresholds import BY_KEY

UID = uids.REALTIME
BAND = (f"Shaded: the anomaly band, {bands.describe()}, as the anomaly alerts record it "
        "per deployment (the instance filter does not apply to it); a line above it is "
        "unusual for this service.")


def _with_band(key: str, title: str, extra=()):
    row = BY_KEY[key]
    upper, lower = f"{row.title} band upper", f"{row.title} band lower"
    return timeseries(
        title, f"{threshold_description(row)} {BAND}", row.unit,
        [prom(row.expr_with_exemplars(RATE, m), row.title, exemplar=row.histogram is not None),
         *extra,
         prom(sel(bands.record(row.record, "upper"), DEPLOYMENT), upper),
         prom(sel(bands.record(row.record, "lower"), DEPLOYMENT), lower)],
        steps=threshold_steps(row), show_steps=True, overrides=band_overrides(upper, lower),
        max_data_points=H.POINTS if row.histogram else None)


def last_five_minutes():
    window = "5m"
    counts = [prom(Q.requests_in_window(m, window), "Requests"),
              *(prom(Q.requests_in_window(m, window, status), status.capitalize())
                for status in M.REQUEST_STATUSES),
              prom(Q.gemini_retries_in_window(m, window), "Retries"),
              prom(Q.gemini_timeouts_in_window(m, window), "Timeouts")]
    return stat(
        "Requests in the last 5 minutes",
        "Requests received in the last 5 minutes (fixed 5m window: ignores the time "
        "picker) by outcome: success (answered by the LLM), fallback (answered by the "
        "embedding-only ranking), error (5xx), rejected (bad input or rate limit, 4xx); "
        "retries are Gemini calls repeated after a failed attempt, timeouts Gemini calls "
        "that hit the per-call timeout.",
        "short", counts, width=24, height=4, graph=False, decimals=0,
        text_mode="value_and_name")


def dashboard():
    stages = [threshold_stat(BY_KEY[key], m, width=8)
              for key in ("embedding_p95", "vector_search_p95", "llm_p95")]
    return build(UID, uids.TITLES[UID],
                 "Response time, throughput, errors and tokens now; the plan's dashboard 1.", [
        section("Now",
                *(threshold_stat(BY_KEY[key], m, width=width) for key, width in
                  (("latency_p95", 5), ("latency_p99", 5), ("throughput", 5),
                   ("error_rate", 5), ("daily_tokens", 4)))),
        section("Last 5 minutes", last_five_minutes()),
        section(
            "Latency",
            _with_band("latency_p95", "Response time (p95, p99) with anomaly band",
                       [prom(Q.request_latency(0.99, m), "p99", exemplar=True)]),
            timeseries("Latency per stage (p50, p95)",
                       "Time per pipeline stage: embedding (queue wait and model), "
                       "vector_search (ChromaDB query), llm (Gemini, retries included), "
                       "json_parsing (parse and repair). 0 while a stage saw no request. "
                       f"{H.DESCRIBED}",
                       "s", [prom(Q.stage_latency(0.5, m, exemplars=True), "{{stage}} p50",
                                  exemplar=True),
                             prom(Q.stage_latency(0.95, m), "{{stage}} p95")],
                       max_data_points=H.POINTS),
            *stages),
        section(
            "Load",
            timeseries("Throughput by status",
                       "Mapping requests per minute by outcome (success, fallback, error, "
                       "rejected).", "reqpm", [prom(Q.requests_per_minute_by_status(m),
                                                    "{{status}}")], stacked=True),
            _with_band("error_rate", "Error rate with anomaly band"),
            timeseries("Requests in progress",
                       "Mapping requests being processed now, all selected replicas.",
                       "short", [prom(Q.in_progress(m), "in progress")], width=8),
            timeseries("Embedding queue depth",
                       "Texts waiting for the embedding model: the autoscaling signal.",
                       "short", [prom(Q.queue_depth(m), "queued texts")], width=8),
            timeseries("Embedding batch size",
                       "Texts embedded together per micro-batch: mean and p95. 0 while no "
                       f"batch ran. The p95: {H.DESCRIBED}", "short",
                       [prom(Q.batch_size_mean(m), "mean"),
                        prom(Q.batch_size_quantile(0.95, m), "p95")], width=8,
                       max_data_points=H.POINTS),
            timeseries("Replicas: desired and up",
                       "Replicas up (answering their scrape) and the count an autoscaler "
                       f"would want: {autoscaling.describe()} "
                       "(observability/autoscaling.py; the KEDA ScaledObject in deploy/k8s "
                       "scales on the same queries). All replicas, whatever the instance "
                       "variable selects. Desired above up for "
                       f"{autoscaling.SCALE_OUT_DUE_FOR} fires AIAssistScaleOutDue: in "
                       "compose, scale by hand.", "short",
                       [prom(Q.desired_replicas(), "desired"),
                        prom(Q.replicas_counted(), "up")], width=24)),
    ])
