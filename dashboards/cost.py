"""AI Assist - Cost Optimization: the plan's dashboard 3, with data-driven advice."""

from __future__ import annotations

from ai_assist.pricing import PRICES
from ai_assist.telemetry import metrics as M

from dashboards.lib import queries as Q
from dashboards.lib.layout import dashboard as build
from dashboards.lib.layout import section
from dashboards.lib.panels import (
    prom,
    range_text,
    stat,
    threshold_stat,
    timeseries,
    value_text,
)
from dashboards.lib.variables import INSTANCE as m
from dashboards.lib.variables import INSTANCE_AND_MODEL as mm
from dashboards.lib.variables import RECORDED_INSTANCE_AND_MODEL
from observability import uids
from observability.cost import COST_RATE_RECORD
from observability.thresholds import BY_KEY

UID = uids.COST
PRICE_TABLE = "; ".join(f"{model} {p.input_per_million_usd:g} in / "
                        f"{p.cached_input_per_million_usd:g} cached in / "
                        f"{p.output_per_million_usd:g} out"
                        for model, p in sorted(PRICES.items()))
INPUT_GOAL = BY_KEY["avg_input_tokens"]
RETRY = BY_KEY["retry_ratio"]


def projected_monthly_cost():
    return stat(
        "Projected monthly cost",
        "Gemini spend rate over the last 24 h x 30 days (the recording rule "
        f"{COST_RATE_RECORD}: a fixed 1d window, whatever the time picker says, so the "
        "projection covers a whole daily cycle rather than the last hour). Per model: "
        "input tokens x input price + cached input tokens x cached price + (output + "
        "thinking tokens) x output price, thinking billed as output (ai_assist/pricing.py, "
        f"USD per 1M tokens: {PRICE_TABLE}). Tokens of models without a price are not "
        "counted (see Tokens without a price). `python -m ai_assist.costreport` projects "
        "from a longer window.",
        "currencyUSD", [prom(Q.projected_monthly_cost_usd(RECORDED_INSTANCE_AND_MODEL), "USD / month")],
        decimals=2, width=6)


def token_efficiency():
    return stat(
        "Token efficiency",
        "Token efficiency = 1 - wasted tokens / used tokens. Wasted: tokens billed for Gemini "
        "answers that were thrown away (unparseable or empty JSON) and asked again; used: "
        "every input, output and thinking token. All models. Reads 100 % when no token "
        "was used.", "percentunit", [prom(Q.token_efficiency(m), "efficiency")],
        steps=[{"color": "red", "value": None}, {"color": "orange", "value": 0.8},
               {"color": "yellow", "value": 0.9}, {"color": "green", "value": 0.95}],
        width=6)


def unpriced_tokens():
    return stat(
        "Tokens without a price",
        "Tokens per minute billed by models missing from the price table "
        "(ai_assist/pricing.py): the projected cost leaves them out. 0 is right.",
        "short", [prom(Q.unpriced_tokens_per_minute(mm), "tokens / min")],
        steps=[{"color": "green", "value": None}, {"color": "red", "value": 0.001}],
        mappings=[value_text(0, "All models priced", "green")], width=6)


def suggestions():
    reduce_by = stat(
        "Advice: shorten prompts by",
        "How much shorter the average prompt (input tokens per successful Gemini call) "
        f"must get to meet the plan's {INPUT_GOAL.goal:g}-token goal: 1 - "
        f"{INPUT_GOAL.goal:g} / average. Shows a check when prompts already meet the goal "
        "or no call was made.", "percentunit",
        [prom(Q.prompt_reduction_to_goal(mm), "cut needed")],
        steps=[{"color": "green", "value": None}, {"color": "yellow", "value": 0.01},
               {"color": "orange", "value": 1 - INPUT_GOAL.goal / INPUT_GOAL.warning},
               {"color": "red", "value": 1 - INPUT_GOAL.goal / INPUT_GOAL.critical}],
        mappings=[value_text(0, f"Prompts within the {INPUT_GOAL.goal:g}-token goal", "green")],
        width=6, graph=False)
    cache = stat(
        "Advice: a response cache would save",
        "Share of answered requests whose text was already mapped recently "
        f"({M.DUPLICATE_REQUESTS_TOTAL} / answered requests, per replica): the Gemini "
        "calls and tokens a response cache keyed on the text would save. The cache is "
        "AI_ASSIST_CACHE_ENABLED (docs/operations/cache.md); its hits count here too, since "
        "a hit repeats a text.", "percentunit",
        [prom(Q.cache_potential(m), "repeat requests")],
        steps=[{"color": "green", "value": None}, {"color": "yellow", "value": 0.05},
               {"color": "orange", "value": 0.2}],
        mappings=[value_text(0, "No repeated texts: a cache would not help", "green")],
        width=6, graph=False)
    wasted = stat(
        "Advice: tokens wasted on failed parses",
        "Share of billed tokens spent on Gemini answers that were thrown away (unparseable "
        "or empty) and retried: wasted / used tokens. Tighter prompts or a response schema "
        "cut it.", "percentunit", [prom(Q.wasted_token_share(m), "wasted share")],
        steps=[{"color": "green", "value": None}, {"color": "yellow", "value": 0.01},
               {"color": "orange", "value": 0.05}, {"color": "red", "value": 0.1}],
        mappings=[value_text(0, "No tokens wasted", "green")], width=6, graph=False)
    recalls = stat(
        "Advice: re-calls after unusable answers",
        "Share of Gemini calls that repeat a call whose answer was unparseable or empty "
        f"(retries for {' or '.join(M.WASTE_REASONS)} / all calls). Under "
        f"{RETRY.goal * 100:g} % it reads as a check: JSON parsing is healthy and costs few "
        "re-calls.", "percentunit",
        [prom(Q.recall_share_bad_answers(m), "re-call share")],
        steps=[{"color": "green", "value": None},
               {"color": "orange", "value": RETRY.goal},
               {"color": "red", "value": RETRY.warning}],
        mappings=[range_text(0, RETRY.goal,
                             "JSON parse success high (few re-calls)", "green")],
        width=6, graph=False)
    return reduce_by, cache, wasted, recalls


CACHE_OFF = ("Reads 0 while the cache is off (AI_ASSIST_CACHE_ENABLED, "
             "docs/operations/cache.md) or idle.")


def response_cache():
    hit_ratio = stat(
        "Cache hit ratio",
        "Share of response-cache lookups answered from the cache: hits / (hits + misses) "
        f"({M.CACHE_LOOKUPS_TOTAL}). A hit is served without embedding, vector search or "
        "a Gemini call. Compare with 'Advice: a response cache would save' (the share of "
        f"texts that repeat): a hit ratio well below it means a short TTL or size bound. "
        f"{CACHE_OFF}", "percentunit", [prom(Q.cache_hit_ratio(m), "hit ratio")], width=6)
    lookups = timeseries(
        "Cache lookups by result",
        "Response-cache lookups per minute: hit (answered from the cache) or miss (the "
        "pipeline ran; a successful LLM answer is then stored). Each mapping request makes "
        "one lookup while the cache is on.", "short",
        [prom(Q.cache_lookups_per_minute_by_result(m), "{{result}}")], stacked=True,
        width=6)
    tokens = timeseries(
        "Tokens saved by the cache",
        "Gemini tokens per minute that cache hits did not spend, by type: what each served "
        "answer had been billed when the LLM made it "
        f"({M.CACHE_TOKENS_SAVED_TOTAL}). {CACHE_OFF}", "short",
        [prom(Q.cache_tokens_saved_per_minute_by_type(mm), "{{type}}")], stacked=True,
        width=6)
    usd = timeseries(
        "Cost saved by the cache per hour",
        "USD per hour that cache hits did not spend on Gemini, by the model that made the "
        "answer: the saved tokens priced like 'Cost per hour by model' (USD per 1M "
        f"tokens: {PRICE_TABLE}). {CACHE_OFF}", "currencyUSD",
        [prom(Q.cache_usd_saved_per_hour_by_model(mm), "{{model}}")], width=6)
    errors = timeseries(
        "Cache storage errors",
        "Response-cache operations per minute that failed (Redis unreachable or slower "
        f"than its timeout; {M.CACHE_ERRORS_TOTAL}), by operation: get (the request ran "
        "the pipeline as a miss: the cache fails open) or set (the answer was not "
        "stored). 0 is right; the service logs one cache_storage_unavailable warning per "
        "outage.", "short",
        [prom(Q.cache_errors_per_minute_by_operation(m), "{{operation}}")],
        steps=[{"color": "green", "value": None}, {"color": "red", "value": 0.001}],
        width=24)
    return hit_ratio, lookups, tokens, usd, errors


def dashboard():
    return build(UID, uids.TITLES[UID],
                 "Gemini spend, tokens per call, efficiency and what to improve; the plan's "
                 "dashboard 3.", [
        section("Cost now",
                projected_monthly_cost(),
                threshold_stat(BY_KEY["avg_input_tokens"], mm, width=6),
                threshold_stat(BY_KEY["avg_output_tokens"], mm, width=6),
                token_efficiency()),
        section("Daily volume",
                threshold_stat(BY_KEY["daily_tokens"], mm, width=6),
                threshold_stat(BY_KEY["daily_api_requests"], mm, width=6),
                stat("Requests per day",
                     "Mapping requests the service received over the last 24 h, every "
                     "status (fixed 1d window: ignores the time picker).", "short",
                     [prom(Q.requests_per_day(m), "requests")], width=6),
                unpriced_tokens()),
        section("Optimization suggestions", *suggestions()),
        section("Response cache", *response_cache()),
        section(
            "Tokens",
            timeseries("Tokens by type",
                       "Gemini tokens per minute by type: input (prompt), cached_input "
                       "(prompt tokens Gemini served from its context cache, billed at the "
                       "cached price), output (candidates), thinking (billed at the output "
                       "price).", "short",
                       [prom(Q.tokens_per_minute_by_type(mm), "{{type}}")], stacked=True,
                       width=8),
            timeseries("Cost per hour by model",
                       "Gemini spend rate in USD per hour by model, from the token counters "
                       f"and the price table (USD per 1M tokens: {PRICE_TABLE}).",
                       "currencyUSD", [prom(Q.cost_usd_per_hour_by_model(mm), "{{model}}")],
                       width=8),
            timeseries("Wasted tokens by reason",
                       "Tokens per minute billed for Gemini answers that were thrown away, "
                       f"by reason ({', '.join(M.WASTE_REASONS)}).", "short",
                       [prom(Q.wasted_tokens_per_minute_by_reason(m), "{{reason}}")],
                       stacked=True, width=8),
            timeseries("Retries refused by the retry budget",
                       "Unusable Gemini answers per minute that were not retried because "
                       "the retry budget (AI_ASSIST_LLM_UNUSABLE_RETRY_BUDGET) was spent, by "
                       "reason: a Gemini answering garbage then costs about one call per "
                       "request, the fallback answers.", "short",
                       [prom(Q.retries_denied_per_minute_by_reason(m), "{{reason}}")],
                       stacked=True, width=24)),
    ], with_model=True)
