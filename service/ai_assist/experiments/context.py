"""The current request's variant label and its Gemini token tally.

A ContextVar, as structlog's request context is: the LLM stage counts tokens several
calls deep (per attempt, retries included) and labels them with the request's variant
without every signature in between carrying it. The pipeline binds it per request.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from ai_assist.experiments.definition import VARIANT_NONE


@dataclass
class RequestTally:
    variant: str = VARIANT_NONE
    tokens: int = 0  # billed over every Gemini call of the request (all types)


_current: ContextVar[RequestTally | None] = ContextVar("ai_assist_request_tally",
                                                         default=None)


def bind(variant: str) -> RequestTally:
    tally = RequestTally(variant)
    _current.set(tally)
    return tally


def variant_label() -> str:
    tally = _current.get()
    return tally.variant if tally else VARIANT_NONE


def add_tokens(count: int) -> None:
    tally = _current.get()
    if tally is not None:
        tally.tokens += count
