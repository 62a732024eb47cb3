"""Request and response bodies of the HTTP API (they also make the OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ai_assist.frameworks import FRAMEWORKS

IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:@-]{1,64}$"


class MapRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "text": "Our Scope 1 emissions fell 12% to 48,200 tCO2e in 2024.",
        "frameworks": ["GRI", "ESRS"], "top_k": 5, "company_id": "acme-kr"}]})

    text: str = Field(description="The report passage to map (plain text; English or "
                                  "Korean with the production model). Length limit: "
                                  "AI_ASSIST_MAX_TEXT_CHARS.")
    frameworks: list[str] | None = Field(
        default=None, description=f"Frameworks to map to, any of {list(FRAMEWORKS)}; all "
                                  "when omitted.")
    top_k: int = Field(default=5, description="How many disclosures to return "
                                              "(1..AI_ASSIST_MAX_TOP_K).")
    company_id: str | None = Field(default=None, pattern=IDENTIFIER_PATTERN,
                                   description="Caller's company, for logs and traces only.")
    user_id: str | None = Field(default=None, pattern=IDENTIFIER_PATTERN,
                                description="Caller's user, for logs and traces only.")


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
