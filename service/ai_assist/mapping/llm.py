"""The LLM stage: Gemini chooses among the vector-search candidates and explains why.

One `map()` call is the stage, and it spends from the request's deadline
(AI_ASSIST_REQUEST_DEADLINE_S, counted from the request's arrival): up to
1 + llm_max_retries generateContent calls through google-genai's async client, each
bounded by min(llm_timeout_s, time left), with exponential backoff and jitter between
them (at least what Gemini asks for in RetryInfo / Retry-After). A retry starts only if
its backoff leaves MIN_USEFUL_CALL_S for the call. When the deadline cuts a call short,
or leaves no time for the first call or for a retry that the attempt count still allowed
(a 429 asking for longer than is left included), the stage gives up with reason
deadline_exceeded; when the attempts run out first, the reason is the last failure's.
The retry loop is tenacity's AsyncRetrying (stop after N attempts or at the deadline,
the wait below, retry on the result); its wait is our own function because it
multiplies the backoff by a jitter factor and honours the server's hint, which
tenacity's wait_exponential_jitter does not.

Before each call: the circuit breaker (mapping/breaker.py) may refuse it (reason
circuit_open, no call made), and the call waits for one of llm_max_concurrency slots,
no longer than the deadline allows (reason overloaded when none frees in time).

Retried: 429, 5xx, timeouts, connection errors, anything else the client library raises
(unexpected_error: a 200 whose body is not JSON, a response its models reject). Other
4xx are not. Unusable answers (empty, unparseable JSON: invalid_json, cut off at
max_output_tokens beyond repair: truncated, JSON that names no candidate:
no_valid_match) are retried only within the retry budget (mapping/retry_budget.py,
AI_ASSIST_LLM_UNUSABLE_RETRY_BUDGET): a single bad answer is retried, a Gemini that
answers garbage for minutes costs about one call per request. The answer is validated against the candidates (no invented ids). When it
gives up it raises an ai_assist.errors class whose `.reason` names the fallback; the
pipeline counts that and answers from the fallback. Nothing else leaves `map()`: any
other exception becomes a GeminiAPIError with reason unexpected_error. Cancellation (the
client went away) propagates: no further call or retry starts.

Telemetry recorded here: gemini_api_calls_total per call made, gemini_api_retries_total,
gemini_tokens_used_total (input / output / thinking) for every answer with usage,
gemini_tokens_wasted_total for answers thrown away, esg_mapping_json_parse_total once per
answer that had text (failed only when no JSON could be recovered: an answer that parsed
but names no candidate counts as parsed), gemini_api_in_flight and
gemini_api_concurrency_wait_seconds around the concurrency bound, and
esg_mapping_duration_seconds for stage="llm" (all attempts and waits) and
stage="json_parsing" (each parse + validation), gemini_api_retries_denied_total for
unusable answers the budget did not retry. Spans: "llm" > "chat {model}" per call (OTel
GenAI attributes) and "json_parsing" per answer. The passage is never logged, nor put on
a span: Gemini's error messages may quote the request (an INVALID_ARGUMENT names the
value it refuses), so an HTTP error is described by its code, status and structured
reasons only (safe_error), and so is what the client library raises.
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
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt

from ai_assist.config import Settings
from ai_assist.experiments.context import add_tokens, variant_label
from ai_assist.errors import (
    DeadlineExceededError, GeminiAPIError, GeminiCircuitOpenError, GeminiRateLimitError,
    GeminiTimeoutError, InvalidLLMResponseError, LLMOverloadedError, TokenLimitExceededError,
)
from ai_assist.mapping.breaker import CircuitBreaker
from ai_assist.mapping.json_repair import parse_llm_json
from ai_assist.mapping.retry_budget import RetryBudget
from ai_assist.mapping.prompt import build_prompt, response_schema
from ai_assist.mapping.types import Candidate, LLMResult, Match
from ai_assist.pricing import TokenUsage
from ai_assist.telemetry import traffic
from ai_assist.telemetry.logging import get_logger
from ai_assist.telemetry.metrics import WASTE_REASONS, Metrics
from ai_assist.telemetry.tracing import trace_exemplar

TEMPERATURE = 0.1
JITTER = 0.5               # a retry waits backoff * 2^(n-1) * (1 + U(0, JITTER))
MAX_RETRY_DELAY_S = 30.0   # no wait (hinted or not) is longer than this
CLIENT_TIMEOUT_MARGIN_S = 1.0  # the HTTP client's own timeout, behind asyncio's
MIN_USEFUL_CALL_S = 0.5    # no call (first or retry) starts with less time left than this
DEADLINE_GRACE_S = 0.25    # the stage's own guard fires this long after the deadline
# A call that the request deadline cut short is evidence against Gemini (a breaker
# failure) only when it had this long, or its whole llm_timeout_s: under load, calls that
# were left a second after queueing time out for our reasons, not Gemini's.
BREAKER_TIMEOUT_EVIDENCE_S = 5.0
MAX_RATIONALE_CHARS = 500
CONFIG_CACHE_SIZE = 1024  # generation configs kept (candidate ids, top_k, thinking budget)
READ_BUFFER_BYTES = 4 * 1024 * 1024  # google-genai's own session's read buffer
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


# Failures that end the stage at once: retrying cannot help (a 4xx is our fault; the
# others mean no call was made or the deadline is spent).
NOT_RETRIED = frozenset({"client_error", "deadline_exceeded", "circuit_open", "overloaded"})
# Call outcomes that say Gemini is unwell (the circuit breaker counts them).
BREAKER_FAILURES = frozenset({"rate_limited", "server_error", "timeout", "connection_error",
                              "unexpected_error"})


@dataclass
class Attempt:
    """What one attempt gave: a generateContent call, or the reason none was made."""
    outcome: str | None              # gemini_api_calls_total's outcome; None: no call made
    failure: str | None = None       # a RETRY_REASONS or FALLBACK_REASONS value, or None
    error: BaseException | None = None
    code: int | None = None
    retry_hint_s: float | None = None
    input_tokens: int = 0            # the prompt, cached part included
    output_tokens: int = 0
    thinking_tokens: int = 0
    cached_input_tokens: int = 0     # the prompt's part served from Gemini's context cache
    truncated: bool = False          # finishReason MAX_TOKENS
    matches: list[Match] | None = None
    parse_result: str = "valid"
    budget_denied: bool = False      # unusable, and the retry budget refused a retry

    @property
    def usage(self) -> TokenUsage:
        return TokenUsage.from_gemini(self.input_tokens, self.output_tokens,
                                      self.thinking_tokens, self.cached_input_tokens)

    @property
    def billed_tokens(self) -> int:
        return self.usage.total

    @property
    def retryable(self) -> bool:
        return (self.failure is not None and self.failure not in NOT_RETRIED
                and not self.budget_denied)


class GeminiErrorSummary(Exception):
    """What Gemini (or its client library) said went wrong, without its free text."""


def safe_error(exc: BaseException) -> BaseException:
    """An exception fit for logs, spans and the cause chain: Gemini's HTTP errors
    reduced to code, status and the reasons of their structured details (their message
    may quote the passage), the client library's validation errors to their type and
    locations (pydantic's text repeats the input). Others are kept: ours, timeouts and
    connection errors name no request content."""
    if isinstance(exc, genai_errors.APIError):
        details = exc.details.get("error", exc.details) if isinstance(exc.details,
                                                                          dict) else {}
        found = details.get("details") if isinstance(details, dict) else None
        reasons = sorted({str(d.get("reason") or str(d.get("@type", "")).rsplit(".", 1)[-1])
                          for d in found or [] if isinstance(d, dict)} - {""})
        text = f"HTTP {exc.code} {exc.status or ''}".rstrip()
        if reasons:
            text += f" ({', '.join(reasons)[:120]})"
        return GeminiErrorSummary(f"{text}; Gemini's message is not logged (it may quote "
                                  "the request)")
    errors = getattr(exc, "errors", None)
    if callable(errors) and type(exc).__name__ == "ValidationError":
        try:
            places = sorted({".".join(map(str, e.get("loc", ())))
                             for e in exc.errors(include_input=False)})
        except TypeError:
            places = []
        return GeminiErrorSummary(f"ValidationError at {', '.join(places)[:200] or '?'}")
    return exc


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


def _http_session() -> aiohttp.ClientSession | None:
    """The aiohttp session of Gemini calls, when built inside the event loop that will
    use it (the service's start-up; None elsewhere: google-genai then makes its own).
    google-genai's own session trusts the environment, which costs every call a netrc
    read and a proxy look-up, each on a worker thread; Gemini's address is configured
    here, so neither is needed. No connection limit: llm_max_concurrency bounds calls."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return None
    return aiohttp.ClientSession(trust_env=False, connector=aiohttp.TCPConnector(limit=0),
                                 read_bufsize=READ_BUFFER_BYTES)


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
    def __init__(self, settings: Settings, metrics: Metrics, model: str | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.model = model or settings.gemini_model  # an experiment variant may pick another
        self._session = _http_session()
        self.client = genai.Client(
            vertexai=False,
            api_key=settings.gemini_api_key or "emulator",
            http_options=types.HttpOptions(
                base_url=settings.gemini_base_url or None,
                timeout=int((settings.llm_timeout_s + CLIENT_TIMEOUT_MARGIN_S) * 1000),
                # one HTTP call per attempt: the retries below are ours, and counted
                retry_options=types.HttpRetryOptions(attempts=1),
                aiohttp_client=self._session,
            ),
        )
        self._configs: dict[tuple, types.GenerateContentConfig] = {}
        self._thinking = self.thinking_config(None)
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
        self.breaker = CircuitBreaker(settings.circuit_failure_threshold,
                                      settings.circuit_cooldown_s, metrics)
        self.retry_budget = RetryBudget(settings.llm_unusable_retry_budget)
        self._slots = asyncio.Semaphore(settings.llm_max_concurrency)

    async def aclose(self) -> None:
        await self.client.aio.aclose()
        if self._session is not None:  # ours: the client leaves it open
            await self._session.close()

    def thinking_config(self, budget: int | None) -> types.ThinkingConfig | None:
        """The model's default budget (None), or an experiment variant's: 0 turns thinking
        off; any budget is capped at half of max_output_tokens."""
        if budget is None:
            budget = min(THINKING_BUDGETS.get(self.model, 0),
                         self.settings.llm_max_output_tokens // 2)
            return types.ThinkingConfig(thinking_budget=budget) if budget >= 128 else None
        return types.ThinkingConfig(
            thinking_budget=min(budget, self.settings.llm_max_output_tokens // 2))

    def generation_config(self, candidates: list[Candidate], top_k: int,
                          thinking: types.ThinkingConfig | None = None
                          ) -> types.GenerateContentConfig:
        """The call's config, built once per candidate ids, top_k and thinking budget
        (google-genai only reads it; building it validates a dozen pydantic models)."""
        thinking = thinking or self._thinking
        key = (tuple(c.disclosure_id for c in candidates), top_k,
               thinking.thinking_budget if thinking else None)
        config = self._configs.get(key)
        if config is None:
            if len(self._configs) >= CONFIG_CACHE_SIZE:
                self._configs.pop(next(iter(self._configs)))  # the oldest
            config = self._configs[key] = self._build_config(candidates, top_k, thinking)
        return config

    def _build_config(self, candidates: list[Candidate], top_k: int,
                      thinking: types.ThinkingConfig | None) -> types.GenerateContentConfig:
        return types.GenerateContentConfig(
            temperature=TEMPERATURE,
            max_output_tokens=self.settings.llm_max_output_tokens,
            candidate_count=1,
            response_mime_type="application/json",
            response_schema=response_schema([c.disclosure_id for c in candidates], top_k),
            thinking_config=thinking,
            # no tools, so nothing to call automatically; also keeps google-genai from
            # logging "AFC is enabled" at INFO on every call
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )

    async def map(self, text: str, candidates: list[Candidate], frameworks,
                  top_k: int, deadline: float | None = None, *, prompt_version: str = "v1",
                  thinking_budget: int | None = None) -> LLMResult:
        """The stage. `deadline` is the request's, on time.monotonic(); by default
        request_deadline_s from now. An experiment variant may set the prompt version
        and the thinking budget (None: the model's default)."""
        if deadline is None:
            deadline = time.monotonic() + self.settings.request_deadline_s
        started = time.perf_counter()
        with tracer.start_as_current_span("llm") as span:
            span.set_attribute("gen_ai.request.model", self.model)
            span.set_attribute("esg.candidates", len(candidates))
            try:
                # a guard behind the per-call bounds: nothing here outlives the deadline
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())
                                           + DEADLINE_GRACE_S):
                    result = await self._map(text, candidates, tuple(frameworks), top_k,
                                             deadline, prompt_version, thinking_budget)
                span.set_attribute("esg.llm.attempts", result.attempts)
                span.set_attribute("esg.llm.parse_result", result.parse_result)
                return result
            except GeminiAPIError as error:
                self._mark(span, error)
                raise
            except TimeoutError as exc:
                error = DeadlineExceededError(
                    f"Gemini {self.model}: the request deadline passed inside the LLM stage")
                error.__cause__ = exc
                self._mark(span, error)
                raise error from exc
            except Exception as exc:  # never let the client library's surprises out
                error = GeminiAPIError(f"Gemini {self.model}: unexpected "
                                       f"{type(exc).__name__}: {_describe(safe_error(exc))}",
                                       reason="unexpected_error")
                self._mark(span, error)
                raise error from safe_error(exc)
            finally:
                self.metrics.stage_duration.labels("llm").observe(
                    time.perf_counter() - started, exemplar=trace_exemplar())

    @staticmethod
    def _mark(span, error: GeminiAPIError) -> None:
        span.set_attribute("error.type", error.error_type)
        span.set_attribute("esg.fallback_reason", error.reason)

    async def _map(self, text, candidates, frameworks, top_k, deadline: float,
                   prompt_version: str = "v1", thinking_budget: int | None = None
                   ) -> LLMResult:
        if not candidates:
            return LLMResult(matches=[], attempts=0)
        prompt = build_prompt(text, candidates, frameworks, top_k, prompt_version)
        config = self.generation_config(candidates, top_k,
                                        self.thinking_config(thinking_budget)
                                        if thinking_budget is not None else None)
        attempts: list[Attempt] = []

        async def attempt() -> Attempt:
            number = len(attempts) + 1
            done = await self._attempt(prompt, config, candidates, top_k, number, deadline)
            attempts.append(done)
            if done.outcome == "ok":  # an answer came: usable or not, it feeds the budget
                unusable = done.failure in WASTE_REASONS
                self.retry_budget.record(not unusable)
                if unusable and not self.retry_budget.allows_retry():
                    done.budget_denied = True
                    if number <= self.settings.llm_max_retries:  # a retry was still due
                        self.metrics.gemini_retries_denied.labels(done.failure).inc()
            return done

        def before_retry(state: RetryCallState) -> None:
            last = state.outcome.result()
            self.metrics.gemini_retries.labels(last.failure).inc()
            self._log_failure(last, state.attempt_number, will_retry=True)
            trace.get_current_span().add_event("retry", {
                "attempt": state.attempt_number + 1, "reason": last.failure,
                "delay_s": round(state.upcoming_sleep, 3)})

        def deadline_stop(state: RetryCallState) -> bool:
            """No retry whose backoff leaves less than a useful call's time."""
            return deadline - time.monotonic() - state.upcoming_sleep < MIN_USEFUL_CALL_S

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.llm_max_retries + 1) | deadline_stop,
            wait=lambda state: self._delay(state.attempt_number,
                                           state.outcome.result().retry_hint_s),
            retry=retry_if_result(lambda done: done.retryable),
            before_sleep=before_retry,
            retry_error_callback=lambda state: state.outcome.result(),
            sleep=asyncio.sleep,
        )
        last = await retrying(attempt)
        calls = sum(1 for a in attempts if a.outcome is not None)
        if last.failure is None:
            return LLMResult(matches=last.matches or [],
                             input_tokens=sum(a.input_tokens for a in attempts),
                             output_tokens=sum(a.output_tokens for a in attempts),
                             thinking_tokens=sum(a.thinking_tokens for a in attempts),
                             cached_input_tokens=sum(a.cached_input_tokens for a in attempts),
                             attempts=calls, parse_result=last.parse_result)
        self._log_failure(last, len(attempts), will_retry=False)
        if last.retryable and len(attempts) <= self.settings.llm_max_retries:
            # retries were left, but not the time for one: the deadline ended the stage
            last.failure = "deadline_exceeded"
        raise self._give_up(last, calls)

    def _log_failure(self, attempt: Attempt, number: int, will_retry: bool) -> None:
        log.warning("gemini_attempt_failed", model=self.model, attempt=number,
                    outcome=attempt.outcome or "not_called", reason=attempt.failure,
                    status_code=attempt.code, will_retry=will_retry,
                    error_message=_describe(attempt.error))

    def _delay(self, retry: int, hint_s: float | None) -> float:
        delay = self.settings.llm_backoff_s * 2 ** (retry - 1)
        delay *= 1 + self._random.uniform(0, JITTER)
        if hint_s is not None:
            delay = max(delay, hint_s)
        return min(delay, MAX_RETRY_DELAY_S)

    def _give_up(self, last: Attempt, calls: int) -> GeminiAPIError:
        what = f"Gemini {self.model}, {calls} call(s): "
        reason = last.failure
        if reason == "rate_limited":
            error: GeminiAPIError = GeminiRateLimitError(what + "rate limited (429)", last.code)
        elif reason == "timeout":
            error = GeminiTimeoutError(
                what + f"no answer within {self.settings.llm_timeout_s:g} s")
        elif reason == "deadline_exceeded":
            error = DeadlineExceededError(
                what + f"the request deadline ({self.settings.request_deadline_s:g} s) "
                       f"ran out ({_describe(last.error)})")
        elif reason == "circuit_open":
            error = GeminiCircuitOpenError(
                what + f"circuit breaker open after {self.breaker.threshold} consecutive "
                       "failed calls; Gemini not called")
        elif reason == "overloaded":
            error = LLMOverloadedError(
                what + f"all {self.settings.llm_max_concurrency} Gemini slots stayed busy "
                       "until the request deadline")
        elif reason in ("server_error", "connection_error", "client_error",
                        "unexpected_error"):
            error = GeminiAPIError(what + f"{reason} ({_describe(last.error)})", last.code,
                                   reason=reason)
        elif reason == "truncated":
            error = TokenLimitExceededError(
                what + f"the answer was cut off at max_output_tokens="
                       f"{self.settings.llm_max_output_tokens} and could not be repaired")
        elif reason == "empty_answer":
            error = InvalidLLMResponseError(what + "empty answer", reason="empty_answer")
        elif reason == "no_valid_match":
            error = InvalidLLMResponseError(what + "the answer names none of the candidates",
                                            reason="no_valid_match")
        else:
            error = InvalidLLMResponseError(what + "no usable JSON in the answer "
                                                   f"({last.error})", reason="invalid_json")
        if last.error is not None:
            error.__cause__ = last.error
        return error

    # -- one attempt --------------------------------------------------------------
    async def _attempt(self, prompt: str, config: types.GenerateContentConfig,
                       candidates: list[Candidate], top_k: int, number: int,
                       deadline: float) -> Attempt:
        left = deadline - time.monotonic()
        if left < MIN_USEFUL_CALL_S:
            return Attempt(outcome=None, failure="deadline_exceeded", error=TimeoutError(
                f"{max(0.0, left):.2f} s left before the deadline: no call started"))
        if self.breaker.refuses():
            return Attempt(outcome=None, failure="circuit_open")
        if not await self._take_slot(deadline):
            return Attempt(outcome=None, failure="overloaded")
        try:
            ticket = self.breaker.acquire()
            if ticket is None:  # opened while this call waited for its slot
                return Attempt(outcome=None, failure="circuit_open")
            response, attempt = await self._call(prompt, config, number, deadline, ticket)
        finally:
            self._slots.release()
        if response is None:
            return attempt
        text = answer_text(response)
        with self._parsing() as span:
            result = self._judge(attempt, text, candidates, top_k, response)
            if result is not None:
                self.metrics.json_parse.labels(result).inc()
                span.set_attribute("esg.json_parse.result", result)
            if attempt.failure:
                span.set_attribute("error.type", attempt.failure)
                span.set_status(Status(StatusCode.ERROR, str(attempt.error)[:200]))
            else:
                span.set_attribute("esg.matches", len(attempt.matches or []))
        if attempt.failure in WASTE_REASONS and attempt.billed_tokens:
            self.metrics.wasted_tokens.labels(attempt.failure).inc(attempt.billed_tokens)
        return attempt

    def _judge(self, attempt: Attempt, text: str, candidates: list[Candidate], top_k: int,
               response: types.GenerateContentResponse) -> str | None:
        """Parse and validate the answer into `attempt`; the json_parse result to count."""
        if not text:
            attempt.failure = "truncated" if attempt.truncated else "empty_answer"
            attempt.error = ValueError("the answer has no text "
                                       f"(finish reason {self._finish(response)})")
            return "failed"
        try:
            obj, attempt.parse_result = parse_llm_json(text)
        except ValueError as exc:
            attempt.failure = "truncated" if attempt.truncated else "invalid_json"
            attempt.error = exc
            return "failed"
        attempt.matches = validate_matches(obj, candidates, top_k)
        if not attempt.matches:
            # the JSON parsed: counted as parsed; the answer is still unusable
            attempt.failure = "truncated" if attempt.truncated else "no_valid_match"
            attempt.error = ValueError("no match names one of the candidates"
                                       + (" (cut off at max_output_tokens)"
                                          if attempt.truncated else ""))
        return attempt.parse_result

    async def _take_slot(self, deadline: float) -> bool:
        """One of llm_max_concurrency call slots, waiting no longer than leaves a useful
        call's time before the deadline."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(max(0.0, deadline - started - MIN_USEFUL_CALL_S)):
                await self._slots.acquire()
            return True
        except TimeoutError:
            return False
        finally:
            self.metrics.gemini_wait.observe(time.monotonic() - started)

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

    async def _call(self, prompt: str, config: types.GenerateContentConfig, number: int,
                    deadline: float, probe: bool
                    ) -> tuple[types.GenerateContentResponse | None, Attempt]:
        """One generateContent call in its "chat {model}" span, bounded by
        min(llm_timeout_s, time left); its outcome goes to the circuit breaker."""
        timeout = min(self.settings.llm_timeout_s, max(0.0, deadline - time.monotonic()))
        cut_by_deadline = timeout < self.settings.llm_timeout_s
        with tracer.start_as_current_span(f"chat {self.model}", kind=SpanKind.CLIENT,
                                          attributes={**self._span_attributes,
                                                      "esg.llm.attempt": number},
                                          record_exception=False) as span:
            response, attempt = None, None
            self.metrics.gemini_in_flight.inc()
            try:
                response = await asyncio.wait_for(
                    self.client.aio.models.generate_content(
                        model=self.model, contents=prompt, config=config),
                    timeout=timeout)
                attempt = Attempt(outcome="ok")
            except TimeoutError as exc:  # asyncio's, or the HTTP client's own
                attempt = Attempt(outcome="timeout", error=exc, failure=(
                    "deadline_exceeded" if cut_by_deadline else "timeout"))
            except genai_errors.APIError as exc:
                outcome = classify_api_error(exc.code)
                attempt = Attempt(outcome=outcome, failure=outcome, error=safe_error(exc),
                                  code=exc.code, retry_hint_s=_retry_hint_s(exc))
            except _CONNECTION_ERRORS as exc:
                attempt = Attempt(outcome="connection_error", failure="connection_error",
                                  error=exc)
            except asyncio.CancelledError:  # the client went away: no verdict on Gemini
                self.metrics.gemini_calls.labels("cancelled", self.model).inc()
                self.breaker.released(probe)
                span.set_attribute("error.type", "cancelled")
                raise
            except Exception as exc:  # what the client library raised: a 200 that is not
                # JSON (JSONDecodeError), a body its models reject (ValidationError), ...
                attempt = Attempt(outcome="unexpected_error", failure="unexpected_error",
                                  error=safe_error(exc))
            finally:
                self.metrics.gemini_in_flight.dec()
            weak = (attempt.outcome == "timeout" and cut_by_deadline
                    and timeout < BREAKER_TIMEOUT_EVIDENCE_S)
            if attempt.outcome == "ok":
                self.breaker.succeeded(probe)
            elif attempt.outcome in BREAKER_FAILURES and not weak:
                self.breaker.failed(probe)
            else:
                self.breaker.released(probe)
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
            # the cached part of the prompt is billed at the cached price (ai_assist/pricing.py)
            billed = TokenUsage.from_gemini(usage.prompt_token_count or 0,
                                            usage.candidates_token_count or 0,
                                            usage.thoughts_token_count or 0,
                                            usage.cached_content_token_count or 0)
            attempt.input_tokens = billed.prompt
            attempt.output_tokens = billed.output
            attempt.thinking_tokens = billed.thinking
            attempt.cached_input_tokens = billed.cached_input
            for kind, count in billed.by_type().items():
                if count:
                    self.metrics.tokens.labels(kind, self.model, variant_label(),
                                               traffic.source()).inc(count)
            add_tokens(attempt.billed_tokens)
            span.set_attribute("gen_ai.usage.input_tokens", attempt.input_tokens)
            # thinking is billed as output, as OpenAI's reasoning tokens are
            span.set_attribute("gen_ai.usage.output_tokens",
                               attempt.output_tokens + attempt.thinking_tokens)
            span.set_attribute("gen_ai.usage.reasoning.output_tokens", attempt.thinking_tokens)
            if attempt.cached_input_tokens:
                span.set_attribute("gen_ai.usage.cache_read.input_tokens",
                                   attempt.cached_input_tokens)
        finish = self._finish(response)
        attempt.truncated = finish == "MAX_TOKENS"
        span.set_attribute("gen_ai.response.finish_reasons", [finish.lower()])
        if response.model_version:
            span.set_attribute("gen_ai.response.model", response.model_version)
        if response.response_id:
            span.set_attribute("gen_ai.response.id", response.response_id)
