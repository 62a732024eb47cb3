"""The committed set of deliberate breakages that the suite must catch
(tests/stack/test_mutations.py).

Each is one textual change to one source file: a wrong label value in a query, a limit on
the wrong scale, a cost that forgets a token type, a rule expression turned around. The
check applies each to a copy of the repository, rebuilds the generated files there, and
expects the panel truth check or the fast rule and dashboard tests to fail. When a bug
gets past the suite, add the breakage that would have caught it here.
"""

from __future__ import annotations

from typing import NamedTuple


class Mutation(NamedTuple):
    name: str
    path: str
    old: str  # must occur exactly once in `path`
    new: str
    # issue 20's classes: quantile level, constants, recording rules, anomaly band, cache
    kind: str = "query"
    # tests run on the copy besides the fast ones: the proof of a target that the session
    # stack does not drive (e.g. the cache panels, which need a cache and a Redis)
    tests: tuple[str, ...] = ()


CACHE_PANELS_PROOF = ("tests/stack/test_response_cache_on_prometheus.py::"
                      "test_the_cache_panels_show_the_truth_of_a_known_mix",)


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("query filters a label value the service never writes",
             "observability/thresholds.py",
             """_gemini_call_ratio(M.GEMINI_CALLS_TOTAL, 'outcome="timeout"')""",
             """_gemini_call_ratio(M.GEMINI_CALLS_TOTAL, 'outcome="timed_out"')"""),
    Mutation("ratio limits written as percents: the alert can never fire",
             "observability/thresholds.py",
             """"percentunit",
              0.01, 0.03, 0.05, True,
              "Share of Gemini calls that hit the per-call timeout.""",
             """"percentunit",
              1, 3, 5, True,
              "Share of Gemini calls that hit the per-call timeout."""),
    Mutation("cost forgets the thinking tokens",
             "service/ai_assist/pricing.py",
             """OUTPUT_BILLED_TYPES = ("output", "thinking")""",
             """OUTPUT_BILLED_TYPES = ("output",)"""),
    Mutation("cached prompt tokens billed at the full input price",
             "observability/cost.py",
             """(CACHED_INPUT_TYPES, price.cached_input_per_million_usd),""",
             """(CACHED_INPUT_TYPES, price.input_per_million_usd),"""),
    Mutation("average output tokens forget the thinking tokens",
             "observability/thresholds.py",
             """_per_call("output|thinking")""",
             """_per_call("output")"""),
    Mutation("p95 panel computes the median", "observability/thresholds.py",
             """_p(0.95), min_request_rate=MIN_REQUEST_RATE""",
             """_p(0.5), min_request_rate=MIN_REQUEST_RATE""",
             "quantile level"),
    Mutation("p99 target of the latency band panel computes the p95", "dashboards/realtime.py",
             """prom(Q.request_latency(0.99, m), "p99", exemplar=True)""",
             """prom(Q.request_latency(0.95, m), "p99", exemplar=True)""", "quantile level"),
    Mutation("p99 panel and its recording rule compute the median", "observability/thresholds.py",
             """_p(0.99), min_request_rate=MIN_REQUEST_RATE""",
             """_p(0.5), min_request_rate=MIN_REQUEST_RATE""",
             "quantile level"),
    Mutation("answered requests include the rejected ones", "observability/thresholds.py",
             """'status=~"success|fallback|error"'""",
             """'status=~"success|fallback|error|rejected"'"""),
    Mutation("per-minute figures off by a factor", "observability/promql.py",
             'return f"({expr}) * 60"', 'return f"({expr}) * 6"'),
    Mutation("average tokens divided by every call, failed ones included",
             "observability/thresholds.py",
             """sum_rate(M.GEMINI_CALLS_TOTAL, w, 'outcome="ok"', m), m=m)""",
             """sum_rate(M.GEMINI_CALLS_TOTAL, w, "", m), m=m)"""),
    Mutation("availability counts fallbacks as failures", "observability/thresholds.py",
             'lambda w, m: "1 - " + _status_ratio("error")(w, m)',
             'lambda w, m: "1 - " + _status_ratio("fallback")(w, m)'),
    Mutation("alert condition turned around", "alerting/threshold_alerts.py",
             'op = ">" if row.higher_is_worse else "<"\n    expr = f"{row.record} {op}',
             'op = "<" if row.higher_is_worse else ">"\n    expr = f"{row.record} {op}'),
    Mutation("match success counts the wrong result", "observability/thresholds.py",
             """_success_ratio(M.MATCH_RESULTS_TOTAL, 'result="unmatched"')""",
             """_success_ratio(M.MATCH_RESULTS_TOTAL, 'result="matched"')"""),
    Mutation("wasted tokens read the used tokens", "dashboards/lib/queries.py",
             "return ratio(sum_rate(M.GEMINI_WASTED_TOKENS_TOTAL, w, \"\", m),",
             "return ratio(sum_rate(M.GEMINI_TOKENS_TOTAL, w, \"\", m),"),
    Mutation("experiment panel's confidence loses its variant grouping",
             "dashboards/lib/experiment_queries.py",
             """sum_rate(f"{M.CONFIDENCE}_sum", w, "", _m(m), by="variant")""",
             """sum_rate(f"{M.CONFIDENCE}_sum", w, "", _m(m))"""),
    # --- issue 20: constants the truth no longer shares with the code ---------------
    Mutation("cached input priced at the old 0.075 USD per 1M tokens",
             "service/ai_assist/pricing.py",
             """ModelPrice(input_per_million_usd=0.30, output_per_million_usd=2.50,
                                   cached_input_per_million_usd=0.03)""",
             """ModelPrice(input_per_million_usd=0.30, output_per_million_usd=2.50,
                                   cached_input_per_million_usd=0.075)""", "constants"),
    Mutation("the 6-hour page spends a tenth of the budget, not a twentieth",
             "observability/slo.py",
             """BurnWindow("6h", 0.05, "critical", "15m")""",
             """BurnWindow("6h", 0.10, "critical", "15m")""", "constants"),
    # --- issue 20: burn-rate and recording-rule windows -----------------------------
    Mutation("the burn alert's short window reads the long one", "alerting/slo.py",
             'f"and {error_ratio(burn.short)}{match} > {limit}',
             'f"and {error_ratio(burn.long)}{match} > {limit}', "recording rules"),
    Mutation("the long SLO ratios all sum three days", "alerting/slo.py",
             'bad = f"sum_over_time({error_rate(BASE_WINDOW)}{match}[{w}])',
             'bad = f"sum_over_time({error_rate(BASE_WINDOW)}{match}[{scale(\'3d\')}])',
             "recording rules"),
    # recording rules that only the recorded-series truth reads (no panel reads them, and
    # their names still say their windows): killed once the runner backfills the copy's
    # rules over the stack's traffic (tests/harness/backfill.py, recorded.py)
    Mutation("the daily rows count the busiest replica, not the deployment",
             "observability/sli.py",
             'return aggregate("sum", f"increase({counter_sum(row.counter)}[{window}])", scope)',
             'return aggregate("max", f"increase({counter_sum(row.counter)}[{window}])", scope)',
             "recording rules"),
    Mutation("the daily rows read the day before (offset: the name still says 1d)",
             "observability/sli.py",
             'return aggregate("sum", f"increase({counter_sum(row.counter)}[{window}])", scope)',
             'return aggregate("sum", f"increase({counter_sum(row.counter)}[{window}] '
             'offset {window})", scope)',
             "recording rules"),
    Mutation("the long SLO request rates sum the 5-minute rates instead of averaging them",
             "alerting/slo.py",
             'f"avg_over_time({request_rate(BASE_WINDOW)}{match}[{w}])"',
             'f"sum_over_time({request_rate(BASE_WINDOW)}{match}[{w}])"', "recording rules"),
    # --- issue 20: the cache's savings at each token type's price -------------------
    Mutation("the cache's saved cached-prompt tokens priced at the full input price",
             "dashboards/lib/queries.py",
             """f"({cost_usd_per_second(m, w, metric=M.CACHE_TOKENS_SAVED_TOTAL)}) * 3600")""",
             """f"({cost_usd_per_second(m, w, metric=M.CACHE_TOKENS_SAVED_TOTAL)}) * 3600"
        .replace("* 0.03 / 1e6", "* 0.3 / 1e6"))""", "cache", CACHE_PANELS_PROOF),
    # --- issue 20: the anomaly band's formula -------------------------------------------
    Mutation("the band's K multiplies the mean instead of the standard deviation",
             "observability/bands.py",
             """    return (f"avg_over_time({series_range} offset {gap})",
            f"{K:g} * stddev_over_time({series_range} offset {gap})")""",
             """    return (f"{K:g} * avg_over_time({series_range} offset {gap})",
            f"stddev_over_time({series_range} offset {gap})")""", "anomaly band"),
    Mutation("the band's spread reads the last hour, without the gap",
             "observability/bands.py",
             """f"{K:g} * stddev_over_time({series_range} offset {gap})")""",
             """f"{K:g} * stddev_over_time({series_range})")""", "anomaly band"),
    Mutation("the band's spread is the variance, not the standard deviation",
             "observability/bands.py",
             """f"{K:g} * stddev_over_time({series_range} offset {gap})")""",
             """f"{K:g} * stdvar_over_time({series_range} offset {gap})")""", "anomaly band"),
    Mutation("a burn window the generators cannot parse: the build crashes",
             "observability/slo.py",
             """BurnWindow("1h", 0.02, "critical", "2m")""",
             """BurnWindow("1 h", 0.02, "critical", "2m")""", "build crash"),
)
