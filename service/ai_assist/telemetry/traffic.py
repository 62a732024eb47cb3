"""Whose request this is: a user's, or the golden-set canary's (ai_assist/canary).

The names of the `source` label, and the functions that read and set it, kept here for
their importers; the value lives in the one request context (ai_assist/request_context.py)
with the request's identity, variant and token tally: the metric catalogue reads it to
leave synthetic requests out of the user-facing metrics (metrics.USER_TRAFFIC_ONLY), and
the LLM stage labels the Gemini tokens it counts with it.
"""

from __future__ import annotations

from ai_assist.request_context import (  # noqa: F401 (the names importers use)
    CANARY, SOURCES, USER, is_synthetic, mark_synthetic, source,
)
