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
from dataclasses import dataclass

from opentelemetry import trace

from ai_assist.config import Settings
from ai_assist.errors import AIAssistError, GeminiAPIError, InternalError
from ai_assist.mapping import fallback
from ai_assist.mapping.embedding import MicroBatcher
from ai_assist.mapping.llm import GeminiMapper
from ai_assist.mapping.types import Match
from ai_assist.mapping.vector_store import VectorStore
from ai_assist.telemetry.logging import get_logger, text_fingerprint
from ai_assist.telemetry.metrics import Metrics
from ai_assist.telemetry.tracing import trace_exemplar

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

    @property
    def average_confidence(self) -> float:
        if not self.matches:
            return 0.0
        return round(sum(m.confidence for m in self.matches) / len(self.matches), 4)


class Pipeline:
    def __init__(self, settings: Settings, metrics: Metrics, batcher: MicroBatcher,
                 store: VectorStore, mapper: GeminiMapper | None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.batcher = batcher
        self.store = store
        self.mapper = mapper
        self._recent: OrderedDict[str, None] = OrderedDict()

    @contextmanager
    def _stage(self, stage: str):
        start = time.perf_counter()
        with tracer.start_as_current_span(stage):
            yield
            self.metrics.stage_duration.labels(stage).observe(
                time.perf_counter() - start, exemplar=trace_exemplar())

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
                  deadline: float | None = None) -> MappingResult:
        if deadline is None:
            deadline = time.monotonic() + self.settings.request_deadline_s
        fingerprint = text_fingerprint(text)
        self._note_duplicate(fingerprint["text_sha256"])
        for framework in frameworks:
            self.metrics.framework_requests.labels(framework).inc()
        span = trace.get_current_span()
        span.set_attribute("esg.text_length", len(text))
        span.set_attribute("esg.frameworks", ",".join(frameworks))
        log.info("esg_mapping_started", frameworks=list(frameworks), top_k=top_k, **fingerprint)

        with self._stage("embedding"):
            vector = await self.batcher.embed(text)
        with self._stage("vector_search"):
            candidates = await self.store.search(vector, frameworks, self.settings.candidates)
        if candidates:
            self.metrics.similarity.observe(candidates[0].similarity)

        result = await self._choose(text, candidates, frameworks, top_k, deadline)
        self._count_answer(result)
        log.info("esg_mapping_completed", matches=len(result.matches),
                 average_confidence=result.average_confidence,
                 fallback_used=result.fallback_used, fallback_reason=result.fallback_reason,
                 top_similarity=round(candidates[0].similarity, 4) if candidates else None)
        return result

    async def _choose(self, text, candidates, frameworks, top_k, deadline) -> MappingResult:
        if self.mapper is None:
            return self._fallback(candidates, top_k, "llm_disabled")
        try:
            try:
                answer = await self.mapper.map(text, candidates, frameworks, top_k, deadline)
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
        return MappingResult(answer.matches, False, None, self.settings.gemini_model)

    def _fallback(self, candidates, top_k, reason: str) -> MappingResult:
        self.metrics.fallbacks.labels(reason).inc()
        trace.get_current_span().set_attribute("esg.fallback_reason", reason)
        return MappingResult(fallback.rank(candidates, top_k, self.settings.embedding_model),
                             True, reason, f"embedding:{self.settings.embedding_model}")

    def _count_answer(self, result: MappingResult) -> None:
        for match in result.matches:
            self.metrics.matches.labels(match.framework).inc()
        matched = any(m.confidence >= MATCH_SUCCESS_CONFIDENCE for m in result.matches)
        self.metrics.match_results.labels("matched" if matched else "unmatched").inc()
        if result.matches:
            self.metrics.confidence.observe(result.average_confidence)


def as_internal(exc: Exception) -> AIAssistError:
    return exc if isinstance(exc, AIAssistError) else InternalError(f"{type(exc).__name__}: {exc}")
