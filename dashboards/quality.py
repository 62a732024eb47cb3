"""AI Assist - Quality Metrics: the plan's dashboard 2."""

from __future__ import annotations

from ai_assist.frameworks import FRAMEWORKS
from dashboards.lib import experiment_queries as X
from dashboards.lib import queries as Q
from dashboards.lib.canary import canary_section
from dashboards.lib.layout import dashboard as build
from dashboards.lib.layout import section
from dashboards.lib.panels import (
    bar_gauge,
    prom,
    table,
    threshold_stat,
    threshold_steps,
    timeseries,
    when_empty,
)
from dashboards.lib.variables import INSTANCE as m
from observability import histograms as H
from observability import uids
from observability.promql import RATE
from observability.thresholds import BY_KEY

UID = uids.QUALITY
QUALITY_RATIOS = ("match_success", "json_parse_success", "fallback_ratio")


def _goals() -> str:
    """The goals of QUALITY_RATIOS in words: "90 %, 95 %, under 5 %"."""
    rows = [BY_KEY[key] for key in QUALITY_RATIOS]
    return ", ".join(f"{'under ' if r.higher_is_worse else ''}{r.goal * 100:g} %" for r in rows)


def dashboard():
    return build(UID, uids.TITLES[UID],
                 "Confidence, matching, JSON parsing and fallbacks; the plan's dashboard 2.", [
        section("Quality now",
                *(threshold_stat(BY_KEY[key], m, width=6) for key in
                  ("avg_confidence", "match_success", "json_parse_success",
                   "fallback_ratio"))),
        section(
            "Matches by framework",
            bar_gauge("Match distribution by framework",
                      "Share of the disclosures returned in answers that belong to each "
                      f"framework ({', '.join(FRAMEWORKS)}), over the last rate interval. "
                      "Every framework reads 0 while nothing was matched.",
                      "percentunit", [prom(Q.match_share_by_framework(m), "{{framework}}")],
                      min_value=0, max_value=1),
            timeseries("Matches per minute by framework",
                       "Disclosures returned in answers per minute, by framework.",
                       "short", [prom(Q.matches_per_minute_by_framework(m), "{{framework}}")],
                       stacked=True),
            timeseries("Requests per minute by framework asked",
                       "Mapping requests that asked for a framework, per minute (one request "
                       "may ask for several; requests that name none search all).",
                       "reqpm", [prom(Q.framework_requests_per_minute(m), "{{framework}}")],
                       stacked=True),
            timeseries("Vector search top similarity (p50, p95)",
                       "Cosine similarity of the best ChromaDB candidate per request: low "
                       "values mean passages the catalogue does not cover well. 0 while no "
                       f"search ran. {H.DESCRIBED}", "none",
                       [prom(Q.top_similarity(0.5, m), "p50"),
                        prom(Q.top_similarity(0.95, m), "p95")], max_value=1,
                       max_data_points=H.POINTS)),
        section(
            "Parsing and fallbacks",
            timeseries("JSON parse results",
                       "Gemini answers per minute by JSON parse result: valid as returned, "
                       "repaired (code fences, trailing commas, quotes, truncation), failed.",
                       "short", [prom(Q.json_parse_per_minute_by_result(m), "{{result}}")],
                       stacked=True, width=8),
            timeseries("Fallbacks by reason",
                       "Requests per minute answered by the embedding-only fallback, by the "
                       "reason the LLM answer was not used.",
                       "reqpm", [prom(Q.fallbacks_per_minute_by_reason(m), "{{reason}}")],
                       stacked=True, width=8),
            timeseries("Quality ratios over time",
                       "Match success rate, JSON parse success rate and fallback ratio over "
                       f"time (definitions on the stat panels above; goals {_goals()}).",
                       "percentunit",
                       [prom(BY_KEY[key].expr(RATE, m), BY_KEY[key].title)
                        for key in QUALITY_RATIOS], width=8, min_value=0, max_value=1),
            timeseries("Average confidence over time",
                       f"{BY_KEY['avg_confidence'].description} Dashed lines: goal, "
                       "warning and critical.", "none",
                       [prom(BY_KEY["avg_confidence"].expr(RATE, m), "average confidence")],
                       steps=threshold_steps(BY_KEY["avg_confidence"]), show_steps=True,
                       width=24, min_value=0, max_value=1)),
        _experiments(),
        canary_section(m),
    ])


VARIANTS = ("Only the running experiment's variants (not `none`: no experiment, or "
            "refused before a variant was chosen). The A/B report (`python -m "
            "ai_assist.experiments report`) tests the differences for significance; these "
            "panels only show them.")


NO_EXPERIMENT = "No experiment running (AI_ASSIST_EXPERIMENT_FILE)"


def _experiments():
    """The running A/B experiment, its variants side by side (ai_assist/experiments);
    each says so when no experiment runs, instead of "No data"."""
    return section("Experiments (A/B)", *(when_empty(p, NO_EXPERIMENT) for p in (
        table("Running experiment",
              "The experiment the replicas run (AI_ASSIST_EXPERIMENT_FILE) and each "
              "variant's configured share of the traffic. Empty: no experiment runs.",
              [prom(X.running_experiment(m), "{{experiment}} {{variant}}", instant=True,
                    table=True)], width=6, hide=("Time",)),
        timeseries("Requests per minute by variant",
                   "Requests answered per minute (success, fallback or error), by "
                   f"experiment variant. {VARIANTS}", "reqpm",
                   [prom(X.requests_per_minute_by_variant(m), "{{variant}}")], width=9),
        timeseries("Success rate by variant",
                   "Share of the answered requests that the LLM answered (not the fallback, "
                   "not an error), by variant; 0 for a variant without requests.",
                   "percentunit", [prom(X.success_rate_by_variant(m), "{{variant}}")],
                   width=9, min_value=0, max_value=1),
        timeseries("Average confidence by variant",
                   "Mean of the answers' average confidence, by variant; 0 for a variant "
                   "without answers.", "none",
                   [prom(X.confidence_by_variant(m), "{{variant}}")], width=6,
                   min_value=0, max_value=1),
        timeseries("Response time p95 by variant",
                   "95th percentile of the end-to-end time of answered requests, by "
                   f"variant; 0 for a variant without requests. {H.DESCRIBED}", "s",
                   [prom(X.latency_p95_by_variant(m), "{{variant}}")], width=6,
                   max_data_points=H.POINTS),
        timeseries("Tokens per request by variant",
                   "Gemini tokens billed per answered request (all types, retries "
                   "included), by variant.", "short",
                   [prom(X.tokens_per_request_by_variant(m), "{{variant}}")], width=6),
        timeseries("Cost per request by variant",
                   "Gemini spend per answered request (USD, prices from "
                   "ai_assist/pricing.py), by variant.", "currencyUSD",
                   [prom(X.cost_per_request_by_variant(m), "{{variant}}")], width=6),
        timeseries("Left out of the comparison",
                   "Requests per minute that the panels above and the A/B report leave "
                   "out, by reason and the variant that served them: forced (a QA "
                   "credential's X-Experiment-Variant) and cached (a response-cache hit, "
                   "which costs no tokens because of the cache, not the variant).", "reqpm",
                   [prom(X.excluded_per_minute_by_reason(m), "{{reason}} {{variant}}")],
                   width=24))))
