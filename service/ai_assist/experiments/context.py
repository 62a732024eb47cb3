"""The current request's variant label and its Gemini token tally.

Both live in the one request context (ai_assist/request_context.py): the LLM stage counts
tokens several calls deep (per attempt, retries included) and labels them with the
request's variant without every signature in between carrying it. The mapping route
binds them per request.
"""

from __future__ import annotations

from ai_assist.experiments.definition import VARIANT_NONE
from ai_assist.request_context import RequestContext, peek, update


def bind(variant: str) -> RequestContext:
    """The current request is compared under `variant`; its token tally starts at 0."""
    return update(variant=variant, tokens=0)


def variant_label() -> str:
    context = peek()
    return context.variant if context else VARIANT_NONE


def add_tokens(count: int) -> None:
    context = peek()
    if context is not None:
        context.tokens += count
