"""Request and response bodies of the HTTP API (they also make the OpenAPI document)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from ai_assist.frameworks import FRAMEWORKS

IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:@-]{1,64}$"


# Characters that show nothing: whitespace, C0 / C1 controls, and the zero-width, format,
# filler and variation-selector characters of the Basic Multilingual Plane. A text must
# hold at least one character outside this class. It is written with \uXXXX escapes
# that Python, ECMA-262 and JSON Schema validators read alike, so the OpenAPI pattern and
# the service's check are the same rule.
INVISIBLE_CLASS = (r"\u0000-\u0020\u007f-\u00a0\u00ad\u034f\u061c\u115f\u1160\u1680"
                   r"\u17b4\u17b5\u180b-\u180f\u2000-\u200f\u2028-\u202f\u205f-\u206f"
                   r"\u2800\u3000\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb")
VISIBLE_CHARACTER_PATTERN = f"[^{INVISIBLE_CLASS}]"


def _integral_number(value):
    """JSON Schema's integer: 5 and 5.0, never true, "5" or 5.5."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JSONInteger = Annotated[StrictInt, BeforeValidator(_integral_number)]


class MapRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "text": "Our Scope 1 emissions fell 12% to 48,200 tCO2e in 2024.",
        "frameworks": ["GRI", "ESRS"], "top_k": 5, "company_id": "acme-kr"}]})

    text: str = Field(description="The report passage to map (plain text; English or "
                                  "Korean with the production model). Length limit: "
                                  "AI_ASSIST_MAX_TEXT_CHARS characters; it must hold at "
                                  "least one visible character (not only whitespace, "
                                  "control or zero-width characters: empty_text), and "
                                  "valid Unicode (no lone surrogate: invalid_unicode).")
    frameworks: list[str] | None = Field(
        default=None, description=f"Frameworks to map to, any of {list(FRAMEWORKS)} "
                                  "(exact, upper case; others: unknown_framework); all "
                                  "when omitted or empty.")
    top_k: JSONInteger = Field(default=5, description="How many disclosures to return "
                                                    "(1..AI_ASSIST_MAX_TOP_K); a JSON "
                                                    "integer, not a string or a boolean.")
    company_id: str | None = Field(default=None, pattern=IDENTIFIER_PATTERN,
                                   description="Caller's company, for logs and traces only.")
    user_id: str | None = Field(default=None, pattern=IDENTIFIER_PATTERN,
                                description="Caller's user, for logs and traces only.")


def map_request_schema(max_text_chars: int, max_top_k: int) -> dict:
    """The request body's JSON Schema with the limits the service enforces (they are
    settings, so they are filled in here rather than in the model): text 1..max chars
    with a visible character, top_k an integer in 1..max_top_k, frameworks from the
    closed list."""
    schema = MapRequest.model_json_schema()
    properties = schema["properties"]
    properties["text"].update(minLength=1, maxLength=max_text_chars,
                              pattern=VISIBLE_CHARACTER_PATTERN)
    properties["top_k"].update(type="integer", minimum=1, maximum=max_top_k)
    for option in properties["frameworks"].get("anyOf", [properties["frameworks"]]):
        if option.get("type") == "array":
            option["items"] = {"type": "string", "enum": list(FRAMEWORKS)}
    return schema


class MatchOut(BaseModel):
    framework: str
    disclosure_id: str = Field(description="e.g. 'GRI 305-1', 'ESRS E1-6', 'TCFD Strategy a'")
    title: str
    confidence: float = Field(ge=0, le=1)
    rationale: str


class MapResponse(BaseModel):
    request_id: str
    matches: list[MatchOut]
    average_confidence: float = Field(ge=0, le=1, description="Mean confidence of the "
                                                              "matches (0 when none).")
    fallback_used: bool = Field(description="True when the answer comes from the "
                                            "embedding-only ranking instead of the LLM.")
    fallback_reason: str | None = None
    model: str = Field(description="The model that chose the matches.")
    cached: bool = Field(default=False, description="True when the answer was served by "
                                                   "the response cache "
                                                   "(AI_ASSIST_CACHE_ENABLED): an earlier "
                                                   "LLM answer to the same request.")


class ErrorBody(BaseModel):
    error: str = Field(description="Machine-readable reason, e.g. empty_text.")
    message: str = Field(description="What is wrong, for a person.")
    request_id: str


class ComponentHealth(BaseModel):
    ok: bool
    detail: str


class HealthResponse(BaseModel):
    status: str = Field(description="healthy, degraded (serving, some dependency down: "
                                    "answers may come from the fallback) or unhealthy.")
    checks: dict[str, ComponentHealth]
    timestamp: str
    version: str
    detail: str | None = Field(default=None, description="Why the service is not ready, "
                                                         "while it is not.")
