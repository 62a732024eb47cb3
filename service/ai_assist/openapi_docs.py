"""What the OpenAPI document (/openapi.json, /docs) says about the service: the app's
title and description, every error answer of each route, the mapping route's request
body and the two ways to send an API key. Text only: the routes are in ai_assist/routes/."""

from __future__ import annotations

import inspect

from fastapi import FastAPI

from ai_assist.config import Settings
from ai_assist.experiments import FORCE_HEADER
from ai_assist.mapping.cache import CACHE_HEADER
from ai_assist.rejections import MAX_JSON_DEPTH, MAX_NUMBER_CHARS
from ai_assist.schemas import ErrorBody, HealthResponse, map_request_schema

INTERNAL_ERROR = {"model": ErrorBody, "description": "Unexpected failure (internal_error); "
                  "the logs hold the details under the request id, and the server closes "
                  "the connection."}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.",
                               "schema": {"type": "integer", "minimum": 1}}}
PLAIN_TEXT = {"text/plain": {"schema": {"type": "string"}}}
EXPOSITION = {"description": "Prometheus text format 0.0.4, or OpenMetrics 1.0 (with "
                             "exemplars) when the Accept header asks for it.",
              "content": {"text/plain": {"schema": {"type": "string"}},
                          "application/openmetrics-text": {"schema": {"type": "string"}}}}

HEALTH_RESPONSES = {503: {"model": HealthResponse}, 500: INTERNAL_ERROR}
LIVEZ_RESPONSES = {200: {"description": "`ok`", "content": PLAIN_TEXT}, 500: INTERNAL_ERROR}
READYZ_RESPONSES = {200: {"description": "`ready`", "content": PLAIN_TEXT},
                    503: {"description": "still loading, or start-up failed (the reason)",
                          "content": PLAIN_TEXT},
                    500: INTERNAL_ERROR}
METRICS_RESPONSES = {200: EXPOSITION,
                     404: {"model": ErrorBody, "description": "Metrics are off "
                           "(AI_ASSIST_METRICS_ENABLED=false): metrics_disabled."},
                     500: INTERNAL_ERROR}


def app_info(version: str) -> dict:
    """FastAPI's arguments that describe the app."""
    return {"title": "AI Assist", "version": version,
            "summary": "Maps ESG report passages to GRI, SASB, TCFD and ESRS disclosures.",
            "description": "E5 / MiniLM embedding, ChromaDB vector search over the "
                           "disclosure catalogue, Gemini 2.5 Flash choosing and explaining "
                           "the matches, with JSON repair, retries and an embedding-only "
                           "fallback. Instrumented with Prometheus metrics (/metrics), JSON "
                           "logs and OpenTelemetry traces.",
            **_without_native_telemetry()}


def map_responses(settings: Settings, limiter_backend: str, api_keys: bool) -> dict:
    """The mapping route's answers besides its 200 (and the 200's X-Cache header)."""
    responses = {
        400: {"model": ErrorBody, "description": (
            f"The body cannot be decoded: invalid_json (not UTF-8, not JSON, or NaN / "
            f"Infinity), json_too_deep (arrays / objects nested over {MAX_JSON_DEPTH} "
            f"levels), number_too_large (a number literal over {MAX_NUMBER_CHARS} "
            f"characters), invalid_unicode (a string with a lone surrogate escape); "
            f"unknown_variant: the {FORCE_HEADER} header names no variant of the running "
            f"A/B experiment.")},
        403: {"model": ErrorBody, "description": (
            f"variant_forcing_forbidden: the {FORCE_HEADER} header was sent without a QA "
            f"credential (the admin key, or an API key named in "
            f"AI_ASSIST_EXPERIMENT_QA_KEYS).")},
        413: {"model": ErrorBody, "description": "Text or body too large (text_too_long, "
                                                 "body_too_large)."},
        415: {"model": ErrorBody, "description": "Content-Type is not application/json."},
        422: {"model": ErrorBody, "description": "Invalid field: empty_text, "
                                                 "unknown_framework, top_k_out_of_range, "
                                                 "invalid_request."},
        429: {"model": ErrorBody, "headers": RETRY_AFTER,
              "description": f"Over the rate limit (rate_limited): "
                             f"{settings.rate_limit_per_minute}/min and "
                             f"{settings.rate_limit_burst} at once per client, "
                             f"{limiter_backend}; see Retry-After."},
        500: INTERNAL_ERROR,
        502: {"model": ErrorBody, "description": "Gemini failed and the fallback is off."},
        503: {"model": ErrorBody, "headers": RETRY_AFTER,
              "description": "Warming up, overloaded or a dependency is down; see "
                             "Retry-After."},
    }
    if settings.cache_enabled:
        responses[200] = {"description": "The matches.", "headers": {CACHE_HEADER: {
            "description": "hit: the answer comes from the response cache; miss: the "
                           "pipeline made it.",
            "schema": {"type": "string", "enum": ["hit", "miss"]}}}}
    if api_keys:
        responses[401] = {"model": ErrorBody, "description": (
            "No valid API key (unauthorized): send `Authorization: Bearer <key>` or "
            "`X-API-Key: <key>`.")}
    return responses


def map_openapi_extra(settings: Settings, api_keys: bool) -> dict:
    """The mapping route's request body (read by hand, so described here) and security."""
    extra: dict = {"requestBody": {"required": True, "content": {"application/json": {
        "schema": map_request_schema(settings.max_text_chars, settings.max_top_k)}}}}
    if api_keys:
        extra["security"] = [{"bearerKey": []}, {"apiKeyHeader": []}]
    return extra


def describe_api_keys(app: FastAPI) -> None:
    """The OpenAPI document names the two ways to send an API key."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearerKey": {"type": "http", "scheme": "bearer",
                              "description": "An API key from AI_ASSIST_API_KEYS."},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                                 "description": "An API key from AI_ASSIST_API_KEYS."}}
        return app.openapi_schema

    app.openapi = openapi


def _without_native_telemetry() -> dict:
    """FastAPI 0.16x traces requests itself; the request middleware already owns the
    server span (it also carries the request id), so a second one would split the tree."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False,
                          "operation_spans": False}}
