"""The Gemini spend rate over the last day as a recording rule (observability/cost.py has
the expression): the cost dashboard's projected month and the cost report read it."""

from __future__ import annotations

from alerting.model import Recording
from observability.cost import (
    COST_RATE_RECORD, COST_SUM_RECORD, LONG_WINDOW, cost_usd_sum_expr, recorded_cost_rate_expr,
)
from observability.durations import COMMITTED, Scale


def recordings(scale: Scale = COMMITTED) -> list[Recording]:
    return [Recording(COST_SUM_RECORD, cost_usd_sum_expr()),
            Recording(COST_RATE_RECORD, recorded_cost_rate_expr(scale(LONG_WINDOW)))]
