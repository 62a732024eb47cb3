"""Requests refused before the pipeline: a 4xx with a reason and a message.

The body is decoded defensively, so that no input reaches a 500: UTF-8 only, JSON nested
at most MAX_JSON_DEPTH levels, number literals of at most MAX_NUMBER_CHARS characters, no
NaN / Infinity, and every string valid Unicode (no lone surrogate escapes). A value the
client sent is echoed in a message (and so in the log line) clipped to ECHO_CHARS.
"""

from __future__ import annotations

import json
import re

from ai_assist.config import Settings
from ai_assist.frameworks import FRAMEWORKS
from ai_assist.schemas import VISIBLE_CHARACTER_PATTERN, MapRequest

MAX_JSON_DEPTH = 32  # the request body needs 2 (an object holding a list)
MAX_NUMBER_CHARS = 100  # characters of one number literal
ECHO_CHARS = 64  # the most of a client's value a message repeats
MAX_MESSAGE_CHARS = 400

_JSON_SIGNIFICANT = re.compile(r'["\\\[\]{}]')
_SURROGATE = re.compile("[\ud800-\udfff]")
_VISIBLE = re.compile(VISIBLE_CHARACTER_PATTERN)


class RequestRejected(Exception):
    def __init__(self, reason: str, message: str, status: int = 422,
                 headers: dict[str, str] | None = None) -> None:
        message = clip(message, MAX_MESSAGE_CHARS)
        super().__init__(message)
        self.reason = reason  # one of telemetry.metrics.REJECT_REASONS
        self.message = message
        self.status = status
        self.headers = headers or {}


def clip(value: object, limit: int = ECHO_CHARS) -> str:
    """A client's value, safe to echo: printable as UTF-8 and at most `limit` characters."""
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def _nesting_exceeds(text: str, limit: int) -> bool:
    """Whether JSON text opens more than `limit` arrays / objects inside each other.

    Scans only the characters that matter (quotes, backslashes, brackets), stops at the
    first level past the limit, and needs no recursion, so a body of 64 KiB of `[` costs
    microseconds instead of a RecursionError."""
    depth, in_string, skip_to = 0, False, -1
    for match in _JSON_SIGNIFICANT.finditer(text):
        position, char = match.start(), match.group()
        if position < skip_to:
            continue
        if in_string:
            if char == "\\":
                skip_to = position + 2
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


class _Refused(Exception):
    def __init__(self, rejection: RequestRejected) -> None:
        self.rejection = rejection


def _number(kind: str, convert):
    def parse(literal: str):
        if len(literal) > MAX_NUMBER_CHARS:
            raise _Refused(RequestRejected(
                "number_too_large", f"a number in the body has {len(literal)} characters; "
                f"the limit is {MAX_NUMBER_CHARS} ({kind} {clip(literal, 20)})", 400))
        return convert(literal)
    return parse


def _no_constant(name: str):
    raise _Refused(RequestRejected("invalid_json", f"body is not valid JSON: {name} is not "
                                   "a JSON number", 400))


def _find_surrogate(value, where: str) -> str | None:
    """The path of the first string (or key) holding a lone surrogate, if any."""
    if isinstance(value, str):
        return where if _SURROGATE.search(value) else None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_surrogate(item, f"{where}[{index}]")
            if found:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{clip(key, 32)}" if where else clip(key, 32)
            if _SURROGATE.search(key):
                return f"a key of {where or 'the body'}"
            found = _find_surrogate(item, name)
            if found:
                return found
    return None


def decode_json_body(raw: bytes) -> object:
    """The JSON value of a request body, or RequestRejected saying what is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestRejected("invalid_json", f"body is not valid UTF-8 (byte {exc.start} "
                              f"of {len(raw)})", 400) from None
    if _nesting_exceeds(text, MAX_JSON_DEPTH):
        raise RequestRejected("json_too_deep", f"body nests arrays or objects more than "
                              f"{MAX_JSON_DEPTH} levels deep", 400)
    try:
        payload = json.loads(text, parse_int=_number("integer", int),
                             parse_float=_number("number", float),
                             parse_constant=_no_constant)
    except _Refused as refused:
        raise refused.rejection from None
    except json.JSONDecodeError as exc:  # its message never repeats the document
        raise RequestRejected("invalid_json", f"body is not valid JSON: {exc}", 400) from None
    except (RecursionError, ValueError) as exc:  # a guard behind the guards above
        raise RequestRejected("invalid_json", f"body is not valid JSON: "
                              f"{type(exc).__name__}", 400) from None
    where = _find_surrogate(payload, "")
    if where is not None:
        raise RequestRejected(
            "invalid_unicode", f"{where or 'the body'} holds a lone UTF-16 surrogate "
            "(an unpaired \\ud800-\\udfff escape), which is not a Unicode character; send "
            "the text as UTF-8 or escape characters beyond U+FFFF as surrogate pairs", 400)
    return payload


def describe_validation_errors(errors: list[dict]) -> str:
    """pydantic's errors as one line, with the client's field names clipped."""
    parts = []
    for item in errors[:5]:
        where = ".".join(clip(p, 32) for p in item.get("loc", ())) or "body"
        parts.append(f"{where}: {clip(item.get('msg', 'invalid'), 120)}")
    return "; ".join(parts)


def has_visible_character(text: str) -> bool:
    """Whether the text holds a character outside schemas.INVISIBLE_CLASS (whitespace,
    controls, zero-width and format characters): the same rule as the OpenAPI pattern."""
    return _VISIBLE.search(text) is not None


def validate_map_request(body: MapRequest, settings: Settings) -> tuple[str, tuple[str, ...]]:
    """The stripped text and the requested frameworks, or RequestRejected."""
    if len(body.text) > settings.max_text_chars:
        raise RequestRejected("text_too_long", f"text has {len(body.text)} characters; the "
                              f"limit is {settings.max_text_chars}", status=413)
    text = body.text.strip()
    if not text:
        raise RequestRejected("empty_text", "text is empty or only whitespace")
    if not has_visible_character(text):
        raise RequestRejected("empty_text", "text has no visible character (only "
                              "whitespace, control or zero-width characters)")
    requested = body.frameworks or list(FRAMEWORKS)
    unknown = [f for f in requested if f not in FRAMEWORKS]
    if unknown:
        shown = ", ".join(repr(clip(f, 32)) for f in unknown[:3])
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise RequestRejected("unknown_framework", f"unknown framework(s) {shown}{more}; "
                              f"choose from {', '.join(FRAMEWORKS)} (exact, upper case)")
    if not 1 <= body.top_k <= settings.max_top_k:
        raise RequestRejected("top_k_out_of_range", f"top_k={clip(body.top_k, 24)} is out "
                              f"of range; use 1..{settings.max_top_k}")
    frameworks = tuple(f for f in FRAMEWORKS if f in requested)
    return text, frameworks
