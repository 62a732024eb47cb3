"""The golden-set canary's section of the quality dashboard (ai_assist/canary.py)."""

from __future__ import annotations

from dashboards.lib.layout import section
from dashboards.lib.panels import prom, timeseries
from observability import canary as C
from observability.thresholds import (
    CANARY_HIT_RATIO_CRITICAL, CANARY_HIT_RATIO_WARNING, CANARY_WINDOW,
)

STEPS = [{"color": "red", "value": None},
         {"color": "orange", "value": CANARY_HIT_RATIO_CRITICAL},
         {"color": "green", "value": CANARY_HIT_RATIO_WARNING}]
WINDOW = f"Fixed {CANARY_WINDOW} window: ignores the time picker's rate interval"


def canary_section(m: str):
    return section(
        "Golden-set canary",
        timeseries("Golden-set canary hit rate",
                   "Share of the golden set's passages whose answer held a correct "
                   "disclosure among its first matches, per language, over the last "
                   f"{CANARY_WINDOW}: the service maps the set through its own live pipeline "
                   "every AI_ASSIST_CANARY_INTERVAL_S (synthetic requests, left out of every "
                   f"other quality panel). Dashed lines: warning below "
                   f"{CANARY_HIT_RATIO_WARNING:.0%}, critical below "
                   f"{CANARY_HIT_RATIO_CRITICAL:.0%} (alert AIAssistCanaryHitRateLow). Reads "
                   f"0 while the canary is off or has not run in the window: see the checks "
                   f"panel. {WINDOW}.", "percentunit",
                   [prom(C.hit_ratio_or_zero(CANARY_WINDOW, m), "{{language}}")],
                   steps=STEPS, show_steps=True, width=16, min_value=0, max_value=1),
        timeseries("Golden-set canary checks",
                   f"Golden-set passages the canary mapped over the last {CANARY_WINDOW}, "
                   "per language; 0 while the canary is off (AI_ASSIST_CANARY_INTERVAL_S=0, "
                   f"the default outside the compose stack). {WINDOW}.", "short",
                   [prom(C.checks(CANARY_WINDOW, m), "{{language}}")], width=8))
