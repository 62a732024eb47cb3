"""The Gemini spend rate in PromQL, from the token counters and the price table
(ai_assist/pricing.py), and its recording rule: what the cost dashboard, the cost rules
and the cost report (ai_assist/costreport) share.

The projected month comes from the spend rate over a long window. The recording rule
keeps that rate over the last day (LONG_WINDOW), per replica and model: a day covers the
daily cycle of the traffic, which the last hour (x 720) does not, and a rate over 1d costs
Prometheus one pass over a day of a dozen token series per evaluation, where a week
would cost seven. The cost report averages the same expression over the window it is
given (e.g. 7d).
"""

from __future__ import annotations

from ai_assist.pricing import CACHED_INPUT_TYPES, OUTPUT_BILLED_TYPES, PRICES
from ai_assist.telemetry import metrics as M

from observability.promql import Scope, aggregate, sel, sum_rate
from observability.selectors import RULES

INPUT_BILLED_TYPES = tuple(t for t in M.TOKEN_TYPES
                           if t not in OUTPUT_BILLED_TYPES + CACHED_INPUT_TYPES)
SECONDS_PER_MONTH = 30 * 86400
LONG_WINDOW = "1d"
# USD per second spent on Gemini over the last day, by instance and model.
COST_RATE_RECORD = "ai_assist:gemini_cost_usd_per_second:rate1d"


def price_classes(price) -> tuple[tuple[tuple[str, ...], float], ...]:
    """(token types, USD per 1M tokens) for each price of one model."""
    return ((INPUT_BILLED_TYPES, price.input_per_million_usd),
            (CACHED_INPUT_TYPES, price.cached_input_per_million_usd),
            (OUTPUT_BILLED_TYPES, price.output_per_million_usd))


def cost_usd_per_second(m: str | Scope, w: str | None, by: str = "model",
                        metric: str = M.GEMINI_TOKENS_TOTAL) -> str:
    """Spend rate from the token counters and the price table, summed by `by` (which
    must hold `model`). `metric`: any counter labelled by token type and model (e.g. the
    tokens the response cache saved). With no window `w`: the USD the counters' values
    are worth (a counter itself).

    One term per (model, price class); the terms have distinct label sets, so `or`
    is their union and the sum adds them up.
    """
    terms = []
    for model, price in sorted(PRICES.items()):
        for types, per_million in price_classes(price):
            matchers = f'type=~"{"|".join(types)}", model="{model}"'
            counted = (sum_rate(metric, w, matchers, m, by=f"{by}, type") if w else
                       aggregate("sum", sel(metric, matchers, m), m, f"{by}, type"))
            terms.append(f"{counted} * {per_million:g} / 1e6")
    return aggregate("sum", " or ".join(terms), m, by)


# USD spent on Gemini per replica and model, as a counter: a day of it is one series a
# replica and model, where the token counters are one a type, source and variant too.
COST_SUM_RECORD = "ai_assist:gemini_cost_usd:sum"


def cost_usd_sum_expr() -> str:
    return cost_usd_per_second(RULES, None, by="instance, model")


def recorded_cost_rate_expr(window: str = LONG_WINDOW) -> str:
    return aggregate("sum", f"rate({COST_SUM_RECORD}[{window}])", RULES, "instance, model")
