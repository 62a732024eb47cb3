"""The mapping pipeline: embedding -> vector search -> LLM -> JSON parse -> answer.

Each stage is a span, a `stage` value of esg_mapping_duration_seconds and a set of log
fields. LLM failures degrade to the embedding-only fallback; everything is counted.
The request's deadline (time.monotonic(), set when it arrived) bounds the LLM stage;
cancelling `run` (the client went away) stops the work and counts no fallback.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from ai_assist.config import Settings
from ai_assist.errors import AIAssistError, GeminiAPIError, InternalError, VectorStoreError
from ai_assist.experiments.definition import VARIANT_NONE, Variant
from ai_assist.mapping import fallback
from ai_assist.mapping.cache import CachedAnswer, ResponseCache, billed_tokens
from ai_assist.mapping.embedding import MicroBatcher
from ai_assist.mapping.llm import GeminiMapper
from ai_assist.mapping.types import Match
from ai_assist.mapping.vector_store import VectorStore
from ai_assist.telemetry.logging import get_logger, text_fingerprint
from ai_assist.telemetry.metrics import Metrics
from ai_assist.telemetry.tracing import trace_exemplar
from ai_assist.telemetry.traffic import mark_synthetic

MATCH_SUCCESS_CONFIDENCE = 0.6  # the plan's critical confidence level
DUPLICATE_WINDOW = 10_000

tracer = trace.get_tracer("ai_assist.pipeline")
log = get_logger("ai_assist.pipeline")


@dataclass
class MappingResult:
    matches: list[Match]
    fallback_used: bool
    fallback_reason: str | None
    model: str
    tokens: dict[str, int] = field(default_factory=dict)  # billed to make it, by type
    cached: bool = False  # served by the response cache

    @property
    def average_confidence(self) -> float:
        if not self.matches:
            return 0.0
        return round(sum(m.confidence for m in self.matches) / len(self.matches), 4)


class Pipeline:
    def __init__(self, settings: Settings, metrics: Metrics, batcher: MicroBatcher,
                 store: VectorStore, mapper: GeminiMapper | None,
                 mappers: dict[str, GeminiMapper] | None = None,
                 cache: ResponseCache | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.batcher = batcher
        self.store = store
        self.mapper = mapper
        # experiment variants on another Gemini model: one mapper (client, breaker and
        # concurrency bound) per model, since each model has its own quota
        self.mappers = {mapper.model: mapper, **(mappers or {})} if mapper else {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self.cache = cache

    @contextmanager
    def _stage(self, stage: str):
        start = time.perf_counter()
        with tracer.start_as_current_span(stage):
            yield
            self.metrics.stage_duration.labels(stage).observe(
                time.perf_counter() - start, exemplar=trace_exemplar())

    async def _embed_and_search(self, text: str, frameworks: tuple[str, ...], wanted: int):
        """The embedding and vector-search stages. With the store attached to the batcher
        (the service), a micro-batch's texts are searched together (mapping/embedding.py);
        each stage is still recorded per request, from the times the batcher reports: its
        vector_search time is from its vector being ready to its batch's search returning."""
        if getattr(self.batcher, "store", None) is None:
            with self._stage("embedding"):
                vector = await self.batcher.embed(text)
            with self._stage("vector_search"):
                return await self.store.search(vector, frameworks, wanted)
        started, started_ns = time.perf_counter(), time.time_ns()

        def ns(moment: float) -> int:
            return started_ns + int((moment - started) * 1e9)

        try:
            found = await self.batcher.embed_and_search(text, frameworks, wanted)
        except Exception as exc:  # ends the stage it happened in, as _stage would
            stage = "vector_search" if isinstance(exc, VectorStoreError) else "embedding"
            span = tracer.start_span(stage, start_time=ns(started))
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
            raise
        for stage, begun, ended in (("embedding", started, found.embedded_at),
                                    ("vector_search", found.embedded_at, found.searched_at)):
            span = tracer.start_span(stage, start_time=ns(begun))
            if stage == "vector_search":
                span.set_attribute("esg.vector_search.batch_texts", found.texts_searched)
            span.end(end_time=ns(ended))
            self.metrics.stage_duration.labels(stage).observe(ended - begun,
                                                              exemplar=trace_exemplar())
        return found.candidates

    def _note_duplicate(self, digest: str) -> None:
        if digest in self._recent:
            self.metrics.duplicates.inc()
            self._recent.move_to_end(digest)
            return
        self._recent[digest] = None
        if len(self._recent) > DUPLICATE_WINDOW:
            self._recent.popitem(last=False)

    def record_error(self, error: AIAssistError) -> None:
        self.metrics.errors.labels(error.error_type, error.severity).inc()
        log.error("ai_error_occurred", error_type=error.error_type, severity=error.severity,
                  should_alert=error.should_alert, error_message=str(error),
                  exc_info=error)

    async def run(self, text: str, frameworks: tuple[str, ...], top_k: int,
                  deadline: float | None = None, *,
                  variant: Variant | None = None, synthetic: bool = False,
                  label: str | None = None, tenant: str | None = None) -> MappingResult:
        """`variant`: the request's experiment variant (ai_assist/experiments); its set
        fields replace the settings' candidates, prompt version, Gemini model, thinking
        budget and LLM on/off for this request. `label`: the `variant` label its match
        and confidence figures are counted under (default: the variant's name; the app
        passes "none" for a forced request); a cache hit is always counted under "none",
        since it repeats an answer its variant already made and was counted for.

        `tenant`: whose cached answers it may be served, and under whose key its own
        answer is stored (AI_ASSIST_CACHE_SCOPE; None: the cache is shared).

        `synthetic`: a golden-set canary check (ai_assist/canary/): it marks the
        caller's context (ai_assist/request_context.py), so the user-facing metrics
        leave it out and its Gemini tokens are counted as source="canary"; it skips the
        response cache, whose answer would hide what the live pipeline does now."""
        if synthetic:
            mark_synthetic()
        if deadline is None:
            deadline = time.monotonic() + self.settings.request_deadline_s
        fingerprint = text_fingerprint(text)
        self._note_duplicate(fingerprint["text_sha256"])
        for framework in frameworks:
            self.metrics.framework_requests.labels(framework).inc()
        span = trace.get_current_span()
        span.set_attribute("esg.text_length", len(text))
        span.set_attribute("esg.frameworks", ",".join(frameworks))
        if label is None:
            label = variant.name if variant is not None else VARIANT_NONE
        wanted = (variant.candidates if variant and variant.candidates
                  else self.settings.candidates)
        log.info("esg_mapping_started", frameworks=list(frameworks), top_k=top_k, **fingerprint)
        key = (self.cache.key(text, frameworks, top_k, variant, tenant)
               if self.cache and not synthetic else None)
        if key is not None:
            hit = await self._cached(key, span)
            if hit is not None:
                self._count_answer(hit, VARIANT_NONE)
                log.info("esg_mapping_completed", matches=len(hit.matches),
                         average_confidence=hit.average_confidence, fallback_used=False,
                         fallback_reason=None, cached=True)
                return hit

        candidates = await self._embed_and_search(text, frameworks, wanted)
        if candidates:
            self.metrics.similarity.observe(candidates[0].similarity)

        result = await self._choose(text, candidates, frameworks, top_k, deadline, variant)
        if key is not None and not result.fallback_used:  # only LLM answers are kept
            await self.cache.put(key, CachedAnswer(result.matches, result.model, result.tokens))
        self._count_answer(result, label)
        log.info("esg_mapping_completed", matches=len(result.matches),
                 average_confidence=result.average_confidence,
                 fallback_used=result.fallback_used, fallback_reason=result.fallback_reason,
                 top_similarity=round(candidates[0].similarity, 4) if candidates else None)
        return result

    async def _choose(self, text, candidates, frameworks, top_k, deadline,
                      variant: Variant | None = None) -> MappingResult:
        mapper = self.mapper
        if variant is not None and variant.gemini_model and mapper is not None:
            mapper = self.mappers.get(variant.gemini_model, mapper)
        if mapper is None or (variant is not None and variant.llm is False):
            return self._fallback(candidates, top_k, "llm_disabled")
        options = {"prompt_version": variant.prompt_version or "v1",
                   "thinking_budget": variant.thinking_budget} if variant else {}
        try:
            try:
                answer = await mapper.map(text, candidates, frameworks, top_k, deadline,
                                          **options)
            except (GeminiAPIError, asyncio.CancelledError):
                raise
            except Exception as exc:  # the mapper converts these; never a 500 from here
                raise GeminiAPIError(f"LLM stage: unexpected {type(exc).__name__}: {exc}",
                                     reason="unexpected_error") from exc
        except GeminiAPIError as error:
            self.record_error(error)
            if not self.settings.fallback_enabled:
                raise
            return self._fallback(candidates, top_k, error.reason)
        return MappingResult(answer.matches, False, None, mapper.model,
                             tokens=billed_tokens(answer))

    async def _cached(self, key: str, span) -> MappingResult | None:
        with tracer.start_as_current_span("cache_lookup") as lookup:
            answer = await self.cache.get(key)
            outcome = "hit" if answer is not None else "miss"
            lookup.set_attribute("esg.cache", outcome)
        span.set_attribute("esg.cache", outcome)
        if answer is None:
            return None
        return MappingResult(answer.matches, False, None, answer.model, tokens=answer.tokens,
                             cached=True)

    def _fallback(self, candidates, top_k, reason: str) -> MappingResult:
        self.metrics.fallbacks.labels(reason).inc()
        trace.get_current_span().set_attribute("esg.fallback_reason", reason)
        return MappingResult(fallback.rank(candidates, top_k, self.settings.embedding_model),
                             True, reason, f"embedding:{self.settings.embedding_model}")

    def _count_answer(self, result: MappingResult, variant: str = VARIANT_NONE) -> None:
        for match in result.matches:
            self.metrics.matches.labels(match.framework).inc()
        matched = any(m.confidence >= MATCH_SUCCESS_CONFIDENCE for m in result.matches)
        self.metrics.match_results.labels("matched" if matched else "unmatched",
                                          variant).inc()
        if result.matches:
            self.metrics.confidence.labels(variant).observe(result.average_confidence)
            self.metrics.confidence_squares.labels(variant).inc(
                result.average_confidence ** 2)


def as_internal(exc: Exception) -> AIAssistError:
    return exc if isinstance(exc, AIAssistError) else InternalError(f"{type(exc).__name__}: {exc}")
