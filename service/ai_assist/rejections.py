"""Requests refused before the pipeline: a 4xx with a reason and a message."""

from __future__ import annotations

from ai_assist.config import Settings
from ai_assist.frameworks import FRAMEWORKS
from ai_assist.schemas import MapRequest


class RequestRejected(Exception):
    def __init__(self, reason: str, message: str, status: int = 422,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.reason = reason  # one of telemetry.metrics.REJECT_REASONS
        self.message = message
        self.status = status
        self.headers = headers or {}


def validate_map_request(body: MapRequest, settings: Settings) -> tuple[str, tuple[str, ...]]:
    """The stripped text and the requested frameworks, or RequestRejected."""
    text = body.text.strip()
    if not text:
        raise RequestRejected("empty_text", "text is empty or only whitespace")
    if len(text) > settings.max_text_chars:
        raise RequestRejected("text_too_long", f"text has {len(text)} characters; the "
                              f"limit is {settings.max_text_chars}", status=413)
    requested = body.frameworks or list(FRAMEWORKS)
    if not requested:
        requested = list(FRAMEWORKS)
    unknown = [f for f in requested if f.upper() not in FRAMEWORKS]
    if unknown:
        raise RequestRejected("unknown_framework", f"unknown framework(s) {unknown}; "
                              f"choose from {list(FRAMEWORKS)}")
    if not 1 <= body.top_k <= settings.max_top_k:
        raise RequestRejected("top_k_out_of_range", f"top_k={body.top_k} is out of range; "
                              f"use 1..{settings.max_top_k}")
    frameworks = tuple(f for f in FRAMEWORKS if f in {r.upper() for r in requested})
    return text, frameworks
