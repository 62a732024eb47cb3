"""The LLM stage: Gemini chooses among the vector-search candidates and explains why.

One `map()` call is the stage: up to 1 + llm_max_retries generateContent calls through
google-genai's async client, each bounded by llm_timeout_s, with exponential backoff and
jitter between them (longer when Gemini says when to come back). Retried: 429, 5xx,
timeouts, connection errors, empty answers and JSON that cannot be parsed or repaired;
other 4xx are not. The answer is validated against the candidates (no invented ids).
When it gives up it raises an ai_assist.errors class whose `.reason` names the
fallback; the pipeline counts that and answers from the fallback.

Telemetry recorded here: gemini_api_calls_total per attempt, gemini_api_retries_total,
gemini_tokens_used_total (input / output / thinking) for every answer with usage,
gemini_tokens_wasted_total for answers thrown away, esg_mapping_json_parse_total once per
answer, and esg_mapping_duration_seconds for stage="llm" (all attempts and waits) and
stage="json_parsing" (each parse + validation). Spans: "llm" > "chat {model}" per attempt
(OTel GenAI attributes) and "json_parsing" per answer. The passage is never logged.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ai_assist.config import Settings
from ai_assist.errors import (
    GeminiAPIError, GeminiRateLimitError, GeminiTimeoutError, InvalidLLMResponseError,
    TokenLimitExceededError,
)
from ai_assist.mapping.json_repair import parse_llm_json
from ai_assist.mapping.prompt import build_prompt, response_schema
from ai_assist.mapping.types import Candidate, LLMResult, Match
from ai_assist.telemetry.logging import get_logger
from ai_assist.telemetry.metrics import Metrics
from ai_assist.telemetry.tracing import trace_exemplar

TEMPERATURE = 0.1
JITTER = 0.5               # a retry waits backoff * 2^(n-1) * (1 + U(0, JITTER))
MAX_RETRY_DELAY_S = 30.0   # no wait (hinted or not) is longer than this
CLIENT_TIMEOUT_MARGIN_S = 1.0  # the HTTP client's own timeout, behind asyncio's
MAX_RATIONALE_CHARS = 500
# Gemini 2.5 counts thinking tokens against max_output_tokens: on the models that think
# by default, cap thinking (at most half the limit) so the answer keeps room.
# flash-lite does not think unless asked, so it gets no budget.
THINKING_BUDGETS = {"gemini-2.5-flash": 1024, "gemini-2.5-pro": 1024}
GEN_AI_SYSTEM = "gemini"
GEN_AI_PROVIDER = "gcp.gemini"

tracer = trace.get_tracer("ai_assist.llm")
log = get_logger("ai_assist.llm")

_CONNECTION_ERRORS = (aiohttp.ClientError, httpx.TransportError, OSError)
_RETRY_DELAY = re.compile(r"\s*(\d+(?:\.\d+)?)s\s*")   # RetryInfo.retryDelay, "1.5s"
_SECONDS = re.compile(r"\s*\d+(?:\.\d+)?\s*")           # Retry-After in seconds


@dataclass
class Attempt:
    """What one generateContent call gave."""
    outcome: str                     # gemini_api_calls_total's outcome label
    failure: str | None = None       # a RETRY_REASONS value, "client_error", or None
    error: BaseException | None = None
    code: int | None = None
    retry_hint_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    truncated: bool = False          # finishReason MAX_TOKENS
    matches: list[Match] | None = None
    parse_result: str = "valid"

    @property
    def billed_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.thinking_tokens

    @property
    def retryable(self) -> bool:
        return self.failure not in (None, "client_error")


def _describe(error: BaseException | None) -> str | None:
    if error is None:
        return None
    return (str(error) or type(error).__name__)[:300]


def _id_key(disclosure_id: str) -> str:
    return " ".join(disclosure_id.split()).casefold()


def validate_matches(obj, candidates: list[Candidate], top_k: int) -> list[Match]:
    """The answer's matches that name a candidate, confidence clamped into 0..1, one per
    disclosure (the most confident), best first, at most top_k."""
    items = obj.get("matches") if isinstance(obj, dict) else obj
    if not isinstance(items, list):
        return []
    allowed = {_id_key(c.disclosure_id): c for c in candidates}
    best: dict[str, Match] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        raw_id = item.get("disclosure_id", item.get("id"))
        candidate = allowed.get(_id_key(raw_id)) if isinstance(raw_id, str) else None
        if candidate is None:
            continue
        try:
            confidence = float(item.get("confidence"))
        except (TypeError, ValueError):
            continue
        if math.isnan(confidence):
            continue
        confidence = min(1.0, max(0.0, confidence))
        rationale = item.get("rationale")
        rationale = " ".join(str(rationale).split())[:MAX_RATIONALE_CHARS] if rationale else ""
        match = Match(framework=candidate.framework, disclosure_id=candidate.disclosure_id,
                      title=candidate.title, confidence=round(confidence, 4),
                      rationale=rationale)
        kept = best.get(candidate.disclosure_id)
        if kept is None or match.confidence > kept.confidence:
            best[candidate.disclosure_id] = match
    return sorted(best.values(), key=lambda m: m.confidence, reverse=True)[:top_k]


def answer_text(response: types.GenerateContentResponse) -> str:
    """The answer's text parts (thought summaries left out)."""
    if not response.candidates:
        return ""
    content = response.candidates[0].content
    parts = (content.parts if content else None) or []
    return "".join(p.text for p in parts if p.text and not p.thought)


def _retry_hint_s(exc: genai_errors.APIError) -> float | None:
    """Seconds the server asked us to wait: RetryInfo.retryDelay or Retry-After."""
    details = exc.details.get("error", exc.details) if isinstance(exc.details, dict) else {}
    for detail in details.get("details") or [] if isinstance(details, dict) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            m = _RETRY_DELAY.fullmatch(str(detail.get("retryDelay", "")))
            if m:
                return float(m.group(1))
    headers = getattr(exc.response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    if value:
        if _SECONDS.fullmatch(value):
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
        except (TypeError, ValueError):
            return None
    return None


def classify_api_error(code: int | None) -> str:
    """gemini_api_calls_total's outcome for an HTTP error status."""
    if code == 429:
        return "rate_limited"
    if code in (408, 504):
        return "timeout"
    if code is not None and 400 <= code < 500:
        return "client_error"
    return "server_error"


class GeminiMapper:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.model = settings.gemini_model
        self.client = genai.Client(
            vertexai=False,
            api_key=settings.gemini_api_key or "emulator",
            http_options=types.HttpOptions(
                base_url=settings.gemini_base_url or None,
                timeout=int((settings.llm_timeout_s + CLIENT_TIMEOUT_MARGIN_S) * 1000),
                # one HTTP call per attempt: the retries below are ours, and counted
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )
        budget = min(THINKING_BUDGETS.get(self.model, 0), settings.llm_max_output_tokens // 2)
        self._thinking = types.ThinkingConfig(thinking_budget=budget) if budget >= 128 else None
        server = urlsplit(settings.gemini_base_url or "https://generativelanguage.googleapis.com")
        self._span_attributes = {  # of every "chat {model}" span
            "gen_ai.operation.name": "chat",
            "gen_ai.system": GEN_AI_SYSTEM,
            "gen_ai.provider.name": GEN_AI_PROVIDER,
            "gen_ai.request.model": self.model,
            "gen_ai.request.max_tokens": settings.llm_max_output_tokens,
            "gen_ai.request.temperature": TEMPERATURE,
            "gen_ai.output.type": "json",
            "server.address": server.hostname or "",
            "server.port": server.port or (443 if server.scheme == "https" else 80),
        }
        self._random = random.Random()

    async def aclose(self) -> None:
        await self.client.aio.aclose()

    def generation_config(self, candidates: list[Candidate], top_k: int
                          ) -> types.GenerateContentConfig:
        return types.GenerateContentConfig(
            temperature=TEMPERATURE,
            max_output_tokens=self.settings.llm_max_output_tokens,
            candidate_count=1,
            response_mime_type="application/json",
            response_schema=response_schema([c.disclosure_id for c in candidates], top_k),
            thinking_config=self._thinking,
        )

    async def map(self, text: str, candidates: list[Candidate], frameworks,
                  top_k: int) -> LLMResult:
        started = time.perf_counter()
        with tracer.start_as_current_span("llm") as span:
            span.set_attribute("gen_ai.request.model", self.model)
            span.set_attribute("esg.candidates", len(candidates))
            try:
                result = await self._map(text, candidates, tuple(frameworks), top_k)
                span.set_attribute("esg.llm.attempts", result.attempts)
                span.set_attribute("esg.llm.parse_result", result.parse_result)
                return result
            except GeminiAPIError as error:
                span.set_attribute("error.type", error.error_type)
                span.set_attribute("esg.fallback_reason", error.reason)
                raise
            finally:
                self.metrics.stage_duration.labels("llm").observe(
                    time.perf_counter() - started, exemplar=trace_exemplar())

    async def _map(self, text, candidates, frameworks, top_k) -> LLMResult:
        if not candidates:
            return LLMResult(matches=[], attempts=0)
        prompt = build_prompt(text, candidates, frameworks, top_k)
        config = self.generation_config(candidates, top_k)
        totals = [0, 0, 0]
        last: Attempt | None = None
        for number in range(1, self.settings.llm_max_retries + 2):
            if last is not None:
                delay = self._delay(number - 1, last.retry_hint_s)
                self.metrics.gemini_retries.labels(last.failure).inc()
                trace.get_current_span().add_event("retry", {
                    "attempt": number, "reason": last.failure, "delay_s": round(delay, 3)})
                await asyncio.sleep(delay)
            last = await self._attempt(prompt, config, candidates, top_k, number)
            totals[0] += last.input_tokens
            totals[1] += last.output_tokens
            totals[2] += last.thinking_tokens
            if last.failure is None:
                return LLMResult(matches=last.matches or [], input_tokens=totals[0],
                                 output_tokens=totals[1], thinking_tokens=totals[2],
                                 attempts=number, parse_result=last.parse_result)
            will_retry = last.retryable and number <= self.settings.llm_max_retries
            log.warning("gemini_attempt_failed", model=self.model, attempt=number,
                        outcome=last.outcome, reason=last.failure, status_code=last.code,
                        will_retry=will_retry,
                        error_message=_describe(last.error))
            if not will_retry:
                break
        raise self._give_up(last, number)

    def _delay(self, retry: int, hint_s: float | None) -> float:
        delay = self.settings.llm_backoff_s * 2 ** (retry - 1)
        delay *= 1 + self._random.uniform(0, JITTER)
        if hint_s is not None:
            delay = max(delay, hint_s)
        return min(delay, MAX_RETRY_DELAY_S)

    def _give_up(self, last: Attempt, attempts: int) -> GeminiAPIError:
        what = f"Gemini {self.model} failed after {attempts} attempt(s): "
        reason = last.failure
        if reason == "rate_limited":
            error: GeminiAPIError = GeminiRateLimitError(what + "rate limited (429)", last.code)
        elif reason == "timeout":
            error = GeminiTimeoutError(
                what + f"no answer within {self.settings.llm_timeout_s:g} s")
        elif reason in ("server_error", "connection_error", "client_error"):
            error = GeminiAPIError(what + f"{reason} ({last.error})", last.code, reason=reason)
        elif last.truncated:
            error = TokenLimitExceededError(
                what + f"the answer was cut off at max_output_tokens="
                       f"{self.settings.llm_max_output_tokens} and could not be repaired")
        elif reason == "empty_answer":
            error = InvalidLLMResponseError(what + "empty answer", reason="empty_answer")
        else:
            error = InvalidLLMResponseError(what + "no usable JSON in the answer "
                                                   f"({last.error})", reason="invalid_json")
        if last.error is not None:
            error.__cause__ = last.error
        return error

    # -- one attempt --------------------------------------------------------------
    async def _attempt(self, prompt: str, config: types.GenerateContentConfig,
                       candidates: list[Candidate], top_k: int, number: int) -> Attempt:
        response, attempt = await self._call(prompt, config, number)
        if response is None:
            return attempt
        text = answer_text(response)
        with self._parsing() as span:
            if not text:
                attempt.failure = "empty_answer"
                attempt.error = ValueError("the answer has no text "
                                           f"(finish reason {self._finish(response)})")
            else:
                try:
                    obj, attempt.parse_result = parse_llm_json(text)
                    attempt.matches = validate_matches(obj, candidates, top_k)
                    if not attempt.matches:
                        raise ValueError("no match names one of the candidates")
                except ValueError as exc:
                    attempt.failure, attempt.error = "invalid_json", exc
            result = "failed" if attempt.failure else attempt.parse_result
            self.metrics.json_parse.labels(result).inc()
            span.set_attribute("esg.json_parse.result", result)
            if attempt.failure:
                span.set_attribute("error.type", attempt.failure)
                span.set_status(Status(StatusCode.ERROR, str(attempt.error)[:200]))
            else:
                span.set_attribute("esg.matches", len(attempt.matches or []))
        if attempt.failure and attempt.billed_tokens:
            self.metrics.wasted_tokens.labels(attempt.failure).inc(attempt.billed_tokens)
        return attempt

    @contextmanager
    def _parsing(self):
        started = time.perf_counter()
        with tracer.start_as_current_span("json_parsing") as span:
            try:
                yield span
            finally:
                self.metrics.stage_duration.labels("json_parsing").observe(
                    time.perf_counter() - started, exemplar=trace_exemplar())

    @staticmethod
    def _finish(response: types.GenerateContentResponse) -> str:
        if response.candidates and response.candidates[0].finish_reason:
            reason = response.candidates[0].finish_reason
            return getattr(reason, "name", str(reason))
        if response.prompt_feedback and response.prompt_feedback.block_reason:
            return f"BLOCKED_{response.prompt_feedback.block_reason}"
        return "UNSPECIFIED"

    async def _call(self, prompt: str, config: types.GenerateContentConfig, number: int
                    ) -> tuple[types.GenerateContentResponse | None, Attempt]:
        """One generateContent call in its "chat {model}" span."""
        with tracer.start_as_current_span(f"chat {self.model}", kind=SpanKind.CLIENT,
                                          attributes={**self._span_attributes,
                                                      "esg.llm.attempt": number},
                                          record_exception=False) as span:
            response, attempt = None, None
            try:
                response = await asyncio.wait_for(
                    self.client.aio.models.generate_content(
                        model=self.model, contents=prompt, config=config),
                    timeout=self.settings.llm_timeout_s)
                attempt = Attempt(outcome="ok")
            except TimeoutError as exc:  # asyncio's, or the HTTP client's own
                attempt = Attempt(outcome="timeout", failure="timeout", error=exc)
            except genai_errors.APIError as exc:
                outcome = classify_api_error(exc.code)
                attempt = Attempt(outcome=outcome, failure=outcome, error=exc, code=exc.code,
                                  retry_hint_s=_retry_hint_s(exc))
            except _CONNECTION_ERRORS as exc:
                attempt = Attempt(outcome="connection_error", failure="connection_error",
                                  error=exc)
            self.metrics.gemini_calls.labels(attempt.outcome, self.model).inc()
            if attempt.error is not None:
                span.record_exception(attempt.error)
                span.set_attribute("error.type", attempt.outcome)
                if attempt.code is not None:
                    span.set_attribute("http.response.status_code", attempt.code)
                span.set_status(Status(StatusCode.ERROR, type(attempt.error).__name__))
            if response is not None:
                self._read_usage(response, attempt, span)
            return response, attempt

    def _read_usage(self, response: types.GenerateContentResponse, attempt: Attempt,
                    span) -> None:
        usage = response.usage_metadata
        if usage is not None:
            attempt.input_tokens = usage.prompt_token_count or 0
            attempt.output_tokens = usage.candidates_token_count or 0
            attempt.thinking_tokens = usage.thoughts_token_count or 0
            for kind, count in (("input", attempt.input_tokens),
                                ("output", attempt.output_tokens),
                                ("thinking", attempt.thinking_tokens)):
                if count:
                    self.metrics.tokens.labels(kind, self.model).inc(count)
            span.set_attribute("gen_ai.usage.input_tokens", attempt.input_tokens)
            # thinking is billed as output, as OpenAI's reasoning tokens are
            span.set_attribute("gen_ai.usage.output_tokens",
                               attempt.output_tokens + attempt.thinking_tokens)
            span.set_attribute("gen_ai.usage.reasoning.output_tokens", attempt.thinking_tokens)
        finish = self._finish(response)
        attempt.truncated = finish == "MAX_TOKENS"
        span.set_attribute("gen_ai.response.finish_reasons", [finish.lower()])
        if response.model_version:
            span.set_attribute("gen_ai.response.model", response.model_version)
        if response.response_id:
            span.set_attribute("gen_ai.response.id", response.response_id)
