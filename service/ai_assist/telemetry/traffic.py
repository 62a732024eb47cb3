"""Whose request this is: a user's, or the golden-set canary's (ai_assist/canary.py).

A ContextVar, as the request's variant is (ai_assist/experiments/context.py): the metric
catalogue reads it to leave synthetic requests out of the user-facing metrics
(metrics.USER_TRAFFIC_ONLY), and the LLM stage labels the Gemini tokens it counts with it,
several calls deep, without every signature in between carrying it.
"""

from __future__ import annotations

from contextvars import ContextVar

USER, CANARY = "user", "canary"
SOURCES = (USER, CANARY)  # the `source` label of gemini_tokens_used_total

_source: ContextVar[str] = ContextVar("ai_assist_traffic_source", default=USER)


def mark_synthetic() -> None:
    """The current context (the canary's task) runs synthetic requests from here on."""
    _source.set(CANARY)


def source() -> str:
    return _source.get()


def is_synthetic() -> bool:
    return _source.get() != USER
