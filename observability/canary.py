"""The golden-set canary's queries (ai_assist/canary.py), for its panel and its alert.

Hit rate per language = canary hits / canary checks over a window: a ratio of two
counters of the same runs, so the runs' schedule (AI_ASSIST_CANARY_INTERVAL_S) does not
matter as long as the window holds at least one run.
"""

from __future__ import annotations

from ai_assist.telemetry import metrics as M
from observability.promql import Scope, aggregate, scope_of, sel
from observability.selectors import RULES
from observability.thresholds import CANARY_WINDOW

BY = "language"


def checks(window: str = CANARY_WINDOW, m: str | Scope = RULES) -> str:
    """Golden-set passages checked over the window, per language."""
    return aggregate("sum", f"increase({sel(M.CANARY_CHECKS_TOTAL, m=m)}[{window}])", m, BY)


def hits(window: str = CANARY_WINDOW, m: str | Scope = RULES) -> str:
    return aggregate("sum", f"increase({sel(M.CANARY_HITS_TOTAL, m=m)}[{window}])", m, BY)


def hit_ratio(window: str = CANARY_WINDOW, m: str | Scope = RULES) -> str:
    """Per language, only where the window holds checks (what the alert reads)."""
    return f"{hits(window, m)} / ({checks(window, m)} > 0)"


def hit_ratio_or_zero(window: str = CANARY_WINDOW, m: str | Scope = RULES) -> str:
    """The panel's figure: 0 for a language without checks in the window (canary off)."""
    return (f"({hit_ratio(window, m)}) or on({scope_of(m).grouping(BY)})"
            f" {checks(window, m)} * 0")
