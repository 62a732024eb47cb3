"""AI Assist - Service Health: components, build, stability SLIs, errors, GPU, catalogue,
and the service's logs from Loki."""

from __future__ import annotations

import attr

from ai_assist.telemetry import metrics as M
from dashboards.lib import logql as L
from dashboards.lib import queries as Q
from dashboards.lib.layout import dashboard as build
from dashboards.lib.layout import section
from dashboards.lib.panels import (
    bar_gauge,
    loki,
    loki_logs,
    loki_timeseries,
    prom,
    stat,
    table,
    threshold_stat,
    threshold_steps,
    timeseries,
    value_text,
)
from dashboards.lib.profiles import cpu_profile_link
from dashboards.lib.variables import DEPLOYMENT
from dashboards.lib.variables import INSTANCE as m
from observability import slo as S
from observability import uids
from observability.promql import sel
from observability.selectors import SCRAPED
from observability.thresholds import BY_KEY

UID = uids.HEALTH
UP_DOWN = [value_text(1, "UP", "green"), value_text(0, "DOWN", "red")]
UP_STEPS = [{"color": "red", "value": None}, {"color": "green", "value": 1}]


def components():
    return stat(
        "Health per component",
        "1 (UP) when a component passes its health check, 0 (DOWN) when it fails: "
        f"{', '.join(M.HEALTH_COMPONENTS)}. The worst of the selected replicas.",
        "none", [prom(Q.health_by_component(m), "{{component}}")],
        steps=UP_STEPS,
        mappings=UP_DOWN, width=12, graph=False, text_mode="value_and_name")


def gemini():
    closed, half_open, open_ = (M.CIRCUIT_STATES.index(s) for s in
                                ("closed", "half_open", "open"))
    return (
        stat("Gemini circuit breaker",
             "Per replica: CLOSED (Gemini is called), HALF-OPEN (one probe call is let "
             "through) or OPEN (consecutive Gemini failures opened it: requests get the "
             "fallback without a Gemini call until the cool-down ends). Alert: "
             "AIAssistGeminiCircuitOpen.", "none", [prom(Q.circuit_state(m), "{{instance}}")],
             steps=[{"color": "green", "value": None}, {"color": "orange", "value": half_open},
                    {"color": "red", "value": open_}],
             mappings=[value_text(closed, "CLOSED", "green"),
                       value_text(half_open, "HALF-OPEN", "orange"),
                       value_text(open_, "OPEN", "red")],
             width=12, graph=False, text_mode="value_and_name"),
        timeseries("Gemini calls in flight",
                   "Gemini calls waiting for an answer now, all replicas; each replica "
                   "holds at most AI_ASSIST_LLM_MAX_CONCURRENCY, beyond it calls wait "
                   "within their deadline, then the fallback answers (reason overloaded).",
                   "short", [prom(Q.gemini_in_flight(m), "in flight")], width=12,
                   min_value=0),
    )


def safeguards():
    return (
        stat("Requests without a rate-limit check",
             "Requests per minute let through unchecked because the shared rate-limit store "
             "(Redis, AI_ASSIST_REDIS_URL) failed: the limiter fails open. 0 when limits "
             "are per replica (no Redis set). Alert: AIAssistRateLimitStoreDown.",
             "short", [prom(Q.per_minute_total(M.RATE_LIMIT_STORAGE_ERRORS_TOTAL, m),
                            "unchecked / min")],
             steps=[{"color": "green", "value": None}, {"color": "orange", "value": 0.001}],
             width=6, graph=False),
        stat("GPU sampling errors",
             "NVML errors per minute while reading GPU utilisation and memory; the GPU "
             "panels go stale while they last. Alert: AIAssistGPUSamplingFails.",
             "short", [prom(Q.per_minute_total(M.GPU_SAMPLE_ERRORS_TOTAL, m), "errors / min")],
             steps=[{"color": "green", "value": None}, {"color": "orange", "value": 0.001}],
             width=6, graph=False),
        stat("Admin-key failures",
             "Requests per minute that presented a wrong admin key (refused), and those "
             "refused without a check because their address failed too often within a "
             "minute (locked_out). Anything here is someone guessing the admin key.",
             "short", [prom(Q.admin_auth_failures_per_minute_by_outcome(m), "{{outcome}}")],
             steps=[{"color": "green", "value": None}, {"color": "orange", "value": 0.001}],
             width=12, graph=False, text_mode="value_and_name"),
    )


def uptime():
    row = BY_KEY["availability"]
    return stat(
        "Uptime (scrapes)",
        "Share of Prometheus scrapes of the service that succeeded over the selected time "
        f"range (avg_over_time of `up`, job {SCRAPED}). Colours as the availability row: "
        f"goal > {row.goal * 100:g} %, warning < {row.warning * 100:g} %, critical < "
        f"{row.critical * 100:g} %.", "percentunit", [prom(Q.uptime(m), "uptime")],
        steps=threshold_steps(row), width=4, decimals=3)


def gpu():
    no_gpu = "0 means no GPU (a CPU host): the service reports its devices either way."
    return (
        stat("GPU devices", f"GPUs the service sees. {no_gpu}", "short",
             [prom(Q.gpu_devices(m), "GPUs")],
             mappings=[value_text(0, "No GPU (CPU host)", "text")], width=4, graph=False),
        timeseries("GPU utilization", f"Utilization per GPU (0..1). {no_gpu}",
                   "percentunit", [prom(Q.gpu_utilization(m), "{{instance}} GPU {{gpu}}")],
                   width=10, min_value=0, max_value=1),
        timeseries("GPU memory", f"GPU memory used and installed per GPU. {no_gpu}",
                   "bytes", [prom(Q.gpu_memory(M.GPU_MEMORY_USED, m), "used {{gpu}}"),
                             prom(Q.gpu_memory(M.GPU_MEMORY_TOTAL, m), "total {{gpu}}")],
                   width=10, min_value=0),
    )


def logs():
    return (
        loki_logs("Error log lines",
                  "The service's log lines at level error or critical: error_type, "
                  "severity, request_id and trace_id (linked to the trace) in the details.",
                  L.lines('level=~"error|critical"')),
        loki_timeseries("Log volume by level",
                        "Service log lines per interval, by level.", "short",
                        [loki(L.count_by("level"), "{{level}}")], stacked=True),
        loki_logs("Warning log lines",
                  "The service's warnings: rejected requests, failed Gemini attempts that "
                  "were retried, failed health samples.", L.lines('level="warning"'),
                  width=12, height=8),
    )


def slo_budget():
    availability, latency = S.SLOS
    page = S.BURN_WINDOWS[0]
    budget = stat(
        f"SLO error budget left ({S.SLO_WINDOW_DAYS} d)",
        f"Share of each SLO's {S.SLO_WINDOW_DAYS}-day error budget still unspent "
        "(ai_assist:slo_* recording rules): availability "
        f"({availability.objective * 100:g} % of answered requests get an answer) and "
        f"latency ({latency.objective * 100:g} % of requests finish under "
        f"{S.LATENCY_LIMIT_S:g} s). Below 0 the SLO is broken. Per deployment: the "
        "instance filter does not apply.", "percentunit",
        [prom(sel(S.BUDGET_REMAINING, DEPLOYMENT), "{{slo}}")],
        steps=[{"color": "red", "value": None}, {"color": "orange", "value": 0},
               {"color": "green", "value": 0.25}],
        width=8, graph=False, text_mode="value_and_name")
    burn = timeseries(
        f"SLO burn rate ({page.long})",
        f"How fast each SLO spends its error budget: the error ratio over the last {page.long} "
        f"over the budget (1 - objective). 1 spends it in exactly {S.SLO_WINDOW_DAYS} days; the "
        f"page fires above {page.factor:g} (with the {page.short} window agreeing). "
        "Per deployment: the instance filter does not apply.", "none",
        [prom(f"{sel(S.error_ratio(page.long), DEPLOYMENT)} / on(slo) group_left() "
              f"(1 - {S.OBJECTIVE})", "{{slo}}")],
        width=16)
    return budget, burn


def dashboard():
    board = build(UID, uids.TITLES[UID],
                 "Is it up, what runs, what fails, what hardware, what it knows, what it "
                 "logs.", [
        section("Service",
                components(),
                uptime(),
                stat("Replicas up", "Scrape targets of the service answering now (`up`).",
                     "short", [prom(Q.replicas_up(m), "up")],
                     steps=UP_STEPS,
                     width=4, graph=False),
                table("Build info",
                      "The running build per replica: version, embedding model, LLM model "
                      f"and device ({M.BUILD_INFO} labels).",
                      [prom(Q.build_info(m), table=True)], width=24, height=5)),
        section("Stability",
                *(threshold_stat(BY_KEY[key], m, width=6)
                  for key in ("availability", "error_rate", "retry_ratio", "timeout_ratio"))),
        section("Gemini", *gemini()),
        section("Safeguards", *safeguards()),
        section("SLOs", *slo_budget()),
        section(
            "Errors",
            timeseries("Errors by type and severity",
                       "Errors per minute by class (the plan's error classes) and severity.",
                       "short", [prom(Q.errors_per_minute_by_type_and_severity(m),
                                      "{{error_type}} ({{severity}})")], stacked=True),
            timeseries("Rejected requests by reason",
                       "Requests refused before the pipeline, per minute, by reason (bad "
                       "input, size, media type, rate limit).", "reqpm",
                       [prom(Q.rejected_per_minute_by_reason(m), "{{reason}}")], stacked=True),
            stat("Errors per minute by severity",
                 f"Errors per minute by severity: {', '.join(M.SEVERITIES)}.", "short",
                 [prom(Q.errors_per_minute_by_severity(m), "{{severity}}")],
                 steps=[{"color": "green", "value": None}, {"color": "orange", "value": 0.001}],
                 width=24, text_mode="value_and_name")),
        section("GPU", *gpu()),
        section("Catalogue",
                bar_gauge("Catalogue size by framework",
                          "Disclosures indexed in the vector store, by framework.", "short",
                          [prom(Q.catalogue_by_framework(m), "{{framework}}")], width=24,
                          height=6, min_value=0)),
        section("Logs (Loki)", *logs(), collapsed=True),
    ])
    return attr.evolve(board, links=[*board.links, cpu_profile_link()])
