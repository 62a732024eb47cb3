"""The current request: one object in one ContextVar.

Who sent it and whose it is (a user's, or the golden-set canary's), the experiment
variant it is compared under, the Gemini tokens it has been billed so far, and whether
its outcome is already counted. The request middleware opens one per HTTP request
(telemetry/middleware.py); the mapping route fills in who is calling and its variant;
the metric catalogue reads `source` to leave synthetic requests out of the user-facing
metrics, and the LLM stage adds tokens to it and labels them with its variant and
source, several calls deep, without every signature in between carrying them.

The object is mutated in place, never replaced within a request, so a task the request
starts (which copies the context) and the middleware around it see the same one. A
context with none (a background task, the canary's loop) gets a fresh one on first use.

What the log lines carry (structlog's context) is bound from here: `update()` sets a
field and binds its log name at once, so identity has one way in.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, replace

import structlog

from ai_assist.experiments.definition import VARIANT_NONE

USER, CANARY = "user", "canary"
SOURCES = (USER, CANARY)  # the `source` label of gemini_tokens_used_total
# field -> its name in the log lines
_LOG_NAMES = {"request_id": "request_id", "client": "client_id", "company_id": "company_id",
              "user_id": "user_id"}


@dataclass
class RequestContext:
    request_id: str = ""
    source: str = USER  # USER, or CANARY for the canary's synthetic requests
    client: str | None = None  # the API key's name, else the peer address
    company_id: str | None = None
    user_id: str | None = None
    variant: str = VARIANT_NONE  # the label it is compared under ("none": not compared)
    tokens: int = 0  # billed over every Gemini call of the request (all types)
    counted: bool = False  # its outcome is in esg_mapping_requests_total already

    @property
    def synthetic(self) -> bool:
        return self.source != USER


_current: ContextVar[RequestContext | None] = ContextVar("ai_assist_request", default=None)


def current() -> RequestContext:
    """The current request's context (a fresh one, kept, where there is none yet)."""
    context = _current.get()
    if context is None:
        context = RequestContext()
        _current.set(context)
    return context


def begin(request_id: str) -> RequestContext:
    """A new request in the current context (the middleware, per HTTP request)."""
    context = RequestContext(request_id=request_id)
    _current.set(context)
    structlog.contextvars.bind_contextvars(request_id=request_id)
    return context


def update(**values) -> RequestContext:
    """Set fields of the current request; those the logs carry are bound there too."""
    context = current()
    for name, value in values.items():
        setattr(context, name, value)
    logged = {_LOG_NAMES[name]: value for name, value in values.items() if name in _LOG_NAMES}
    if logged:
        structlog.contextvars.bind_contextvars(**logged)
    return context


def peek() -> RequestContext | None:
    """The current request's context, or None outside one (never creates one)."""
    return _current.get()


def mark_synthetic() -> None:
    """The current context (the canary's task) runs synthetic requests from here on.

    A copy, set in this context only: a context copied from this one before (or the one
    it was copied from) keeps its own source."""
    context = _current.get()
    _current.set(replace(context, source=CANARY) if context else RequestContext(source=CANARY))


def is_synthetic() -> bool:
    context = _current.get()
    return context is not None and context.synthetic


def source() -> str:
    context = _current.get()
    return context.source if context else USER
