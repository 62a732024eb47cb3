"""The golden-set canary's alert: mapping quality on a known set fell below its baseline.

Reads the canary's raw counters (ai_assist/canary.py) over CANARY_WINDOW; silent while the
canary is off or has not run in the window (no checks, no ratio)."""

from __future__ import annotations

from alerting.model import Alert, Guidance
from observability import canary as C
from observability import uids as links
from observability.durations import COMMITTED, Scale
from observability.thresholds import (
    CANARY_BASELINE, CANARY_HIT_RATIO_CRITICAL, CANARY_HIT_RATIO_WARNING, CANARY_WINDOW,
)

NAME = "AIAssistCanaryHitRateLow"
LEVELS = {"warning": CANARY_HIT_RATIO_WARNING, "critical": CANARY_HIT_RATIO_CRITICAL}


def alerts(scale: Scale = COMMITTED) -> list[Alert]:
    window, for_ = scale(CANARY_WINDOW), scale("5m")
    return [Alert(
        NAME, severity, f"{C.hit_ratio(window)} < {level:g}", for_,
        f"The golden-set canary's hit rate is below {level:.0%} ({severity})",
        f"Over the last {window} the canary found a correct disclosure for "
        f"{{{{ $value | humanizePercentage }}}} of its {{{{ $labels.language }}}} passages "
        f"(baseline {CANARY_BASELINE:.0%}): the live pipeline maps worse than it did.",
        links.QUALITY,
        f"Canary hits / checks over {window} below {level:.0%} for a language, for {for_}")
        for severity, level in LEVELS.items()]


GUIDANCE = {
    NAME: Guidance(
        meaning="The golden-set canary (AI_ASSIST_CANARY_INTERVAL_S) maps a labelled set "
                "of English and Korean passages through the live pipeline and counts the "
                "answers that hold a correct disclosure. The shipped set hits every passage "
                f"on the default stack (baseline {CANARY_BASELINE:.0%}); below "
                f"{CANARY_HIT_RATIO_WARNING:.0%} in one language over {CANARY_WINDOW} is a "
                f"warning, below {CANARY_HIT_RATIO_CRITICAL:.0%} critical. User requests "
                "are not counted in it, so it moves even when the traffic is quiet.",
        causes=("A new embedding model, catalogue or prompt version maps worse (a deploy "
                "changed AI_ASSIST_EMBEDDING_MODEL, the catalogue data or the prompt).",
                "Gemini answers worse or not at all: the fallback's embedding-only ranking "
                "answers instead (see the Fallback ratio and circuit breaker alerts).",
                "The index was rebuilt from a damaged or different catalogue.",
                "The golden set itself was edited (AI_ASSIST_CANARY_SET) and holds a wrong "
                "label."),
        actions=("Open the Quality dashboard's *Golden-set canary hit rate*: which language, "
                 "since when; compare with the deploy times.",
                 "Read the `canary_run_completed` log lines in Loki (`synthetic=true`): "
                 "`missed` names the passages that missed; replay one with `curl -X POST "
                 ".../v1/esg/map` and look at the matches.",
                 "Run `make eval` with the running model to see the drop on the larger "
                 "labelled set; roll back the model, catalogue or prompt change.")),
}
