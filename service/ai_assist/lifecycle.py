"""The service's parts over its life: their state, start-up (load the model, build the
index, wire the pipeline) without holding up the HTTP server, the background sampler,
and the orderly stop."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ai_assist import canary as golden_canary
from ai_assist.canary import GoldenSet
from ai_assist.config import Settings
from ai_assist.experiments import Experiment
from ai_assist.health import GeminiOutcomes, HealthChecker
from ai_assist.mapping.cache import build_cache
from ai_assist.mapping.catalogue import Disclosure, counts_by_framework
from ai_assist.mapping.embedding import EmbeddingModel, MicroBatcher
from ai_assist.mapping.llm import GeminiMapper
from ai_assist.mapping.pipeline import Pipeline, as_internal
from ai_assist.mapping.vector_store import VectorStore, open_index
from ai_assist.memory import release_free_memory
from ai_assist.ratelimit import RateLimiter
from ai_assist.shared_store import SharedStore
from ai_assist.telemetry import profiling, tracing
from ai_assist.telemetry.gpu import GPUSampler
from ai_assist.telemetry.logging import get_logger
from ai_assist.telemetry.metrics import Metrics

BACKGROUND_INTERVAL_S = 15
log = get_logger("ai_assist.app")


@dataclass
class ServiceState:
    settings: Settings
    metrics: Metrics
    limiter: RateLimiter
    gemini_outcomes: GeminiOutcomes = field(default_factory=GeminiOutcomes)
    catalogue: tuple[Disclosure, ...] = ()
    model: EmbeddingModel | None = None
    store: VectorStore | None = None
    batcher: MicroBatcher | None = None
    pipeline: Pipeline | None = None
    experiment: Experiment | None = None  # read once, at start-up
    shared: SharedStore | None = None  # Redis, for the limiter and the cache
    gpu: GPUSampler | None = None
    ready: bool = False
    startup_error: str | None = None
    scraped: asyncio.Event = field(default_factory=asyncio.Event)  # first GET /metrics


async def start(state: ServiceState) -> None:
    """Load the model and build the index without holding up the HTTP server."""
    settings, metrics = state.settings, state.metrics
    try:
        started = time.perf_counter()
        state.model = await asyncio.to_thread(EmbeddingModel, settings.embedding_model,
                                              settings.embedding_device,
                                              settings.embedding_threads)
        # a damaged index is rebuilt from the catalogue (mapping/vector_store.py)
        store = await asyncio.to_thread(open_index, settings.chroma_path, state.catalogue,
                                        state.model)
        if store.rebuilt:  # the build's freed buffers back to the OS (ai_assist/memory.py)
            await asyncio.to_thread(release_free_memory)
        state.store = store
        state.batcher = MicroBatcher(state.model, metrics, settings.embedding_max_batch,
                                     settings.embedding_max_wait_ms,
                                     settings.embedding_queue_size, store=store)
        state.batcher.start()
        state.pipeline = _pipeline(state)
        _record_start(state, started)
    except Exception as exc:
        error = as_internal(exc)
        state.startup_error = f"{error.error_type}: {error}"
        metrics.errors.labels(error.error_type, error.severity).inc()
        log.critical("service_start_failed", error_type=error.error_type,
                     severity=error.severity, exc_info=exc)


def _pipeline(state: ServiceState) -> Pipeline:
    """The pipeline over the started parts: Gemini mappers (one per experiment model)
    when an LLM is configured, and the response cache when it is on."""
    settings, metrics, experiment = state.settings, state.metrics, state.experiment
    mapper = GeminiMapper(settings, metrics) if settings.llm_configured else None
    mappers = {model: GeminiMapper(settings, metrics, model)
               for model in {v.gemini_model for v in experiment.variants}
               if model and model != settings.gemini_model} \
        if mapper and experiment else {}
    pipeline = Pipeline(settings, metrics, state.batcher, state.store, mapper, mappers)
    if settings.cache_enabled:  # ai_assist/mapping/cache.py
        pipeline.cache = build_cache(settings, metrics, state.store.fingerprint,
                                     state.shared)
    return pipeline


def _record_start(state: ServiceState, started: float) -> None:
    settings, metrics, mapper = state.settings, state.metrics, state.pipeline.mapper
    for framework, count in counts_by_framework(state.catalogue).items():
        metrics.catalogue_size.labels(framework).set(count)
    metrics.build_info.labels(settings.version, settings.embedding_model,
                              settings.gemini_model if mapper else "none",
                              state.model.device).set(1)
    state.ready = True
    log.info("service_ready", disclosures=len(state.catalogue), device=state.model.device,
             embedding_model=state.model.name, embedding_backend=state.model.backend,
             index_rebuilt=state.store.rebuilt, llm=bool(mapper),
             startup_s=round(time.perf_counter() - started, 2))


async def background(state: ServiceState, checker: HealthChecker) -> None:
    while True:
        try:  # never let the sampler die
            if state.gpu:
                # NVML calls block (seconds, on a GPU that is going away): off the loop
                await asyncio.to_thread(state.gpu.sample)  # survives NVML errors itself
            if state.ready:
                await checker.check()
        except Exception as exc:
            log.warning("background_sample_failed", exc_info=exc)
        await asyncio.sleep(BACKGROUND_INTERVAL_S)


async def stop(state: ServiceState) -> None:
    """Stop what start() started, in order (the batcher before what it feeds)."""
    if state.batcher:
        await state.batcher.stop()
    if state.pipeline and state.pipeline.mapper is not None:
        await state.pipeline.mapper.aclose()
    if state.pipeline and state.pipeline.cache is not None:
        await state.pipeline.cache.aclose()
    if state.shared is not None:
        await state.shared.aclose()
    if state.store:
        state.store.close()


def lifespan(state: ServiceState, checker: HealthChecker, golden: GoldenSet | None,
             profiler: profiling.ContinuousProfiler, provider, previous_provider):
    """The app's lifespan: start the parts in the background, stop them in order."""

    @asynccontextmanager
    async def run(app):
        log.info("service_starting", settings=state.settings.redacted())
        profiler.start()  # here, not at import: the agent's threads do not survive a fork
        state.gpu = GPUSampler(state.metrics)
        starter = asyncio.create_task(start(state))
        sampler = asyncio.create_task(background(state, checker))
        canary = golden_canary.start(state, golden)  # None unless the canary is on
        yield
        for task in (starter, sampler, canary):
            if task is not None:
                task.cancel()
        await stop(state)
        log.info("service_stopped")
        profiler.stop()
        tracing.uninstall(provider, previous_provider)

    return run
