"""The FastAPI application: routes, lifespan (load the model, build the index) and the
wiring of settings, telemetry and the pipeline."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from opentelemetry import trace
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ai_assist import admin_profile
from ai_assist import canary as golden_canary
from ai_assist.cancellation import (
    CLIENT_CLOSED_REQUEST, ClientDisconnected, unless_disconnected,
)
from ai_assist.composition import Domain, compose
from ai_assist.config import Settings
from ai_assist.errors import AIAssistError, GeminiAPIError
from ai_assist.experiments import (
    FORCE_HEADER, VARIANT_NONE, Experiment, ForcingForbidden, UnknownVariant, choose,
    context as experiment_context,
)
from ai_assist.health import GeminiOutcomes, HealthChecker
from ai_assist.identity import ADMIN_CLIENT, key_digest, key_matches, peer_address
from ai_assist.mapping.cache import CACHE_HEADER, build_cache
from ai_assist.mapping.catalogue import Disclosure, counts_by_framework
from ai_assist.mapping.embedding import EmbeddingModel, MicroBatcher
from ai_assist.mapping.pipeline import MappingResult, Pipeline, as_internal
from ai_assist.mapping.vector_store import VectorStore, open_index
from ai_assist.memory import release_free_memory
from ai_assist.ratelimit import RateLimiter
from ai_assist.rejections import (
    MAX_JSON_DEPTH, MAX_NUMBER_CHARS, RequestRejected, clip, decode_json_body,
    describe_validation_errors, validate_map_request,
)
from ai_assist.schemas import (
    ErrorBody, HealthResponse, MapRequest, MapResponse, MatchOut, map_request_schema,
)
from ai_assist.telemetry import profiling, tracing
from ai_assist.telemetry.gpu import GPUSampler
from ai_assist.telemetry.logging import configure_logging, get_logger
from ai_assist.telemetry.metrics import ANSWERED_STATUSES, Metrics
from ai_assist.telemetry.middleware import RequestContextMiddleware

BACKGROUND_INTERVAL_S = 15
MAP_PATH = "/v1/esg/map"
log = get_logger("ai_assist.app")
tracer = trace.get_tracer("ai_assist.app")


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
    gpu: GPUSampler | None = None
    ready: bool = False
    startup_error: str | None = None
    scraped: asyncio.Event = field(default_factory=asyncio.Event)  # first GET /metrics


def _error(status: int, reason: str, message: str, request_id: str,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=reason, message=message, request_id=request_id)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _describe(error: ValidationError) -> str:
    return describe_validation_errors(error.errors(include_input=False))


async def _start(state: ServiceState) -> None:
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
        mapper = None
        if settings.llm_configured:
            from ai_assist.mapping.llm import GeminiMapper

            mapper = GeminiMapper(settings, metrics)
        experiment = state.experiment
        mappers = {model: GeminiMapper(settings, metrics, model)
                   for model in {v.gemini_model for v in experiment.variants}
                   if model and model != settings.gemini_model} \
            if mapper and experiment else {}
        state.pipeline = Pipeline(settings, metrics, state.batcher, store, mapper, mappers)
        if settings.cache_enabled:  # ai_assist/mapping/cache.py
            state.pipeline.cache = build_cache(settings, metrics, store.fingerprint)
        for framework, count in counts_by_framework(state.catalogue).items():
            metrics.catalogue_size.labels(framework).set(count)
        metrics.build_info.labels(settings.version, settings.embedding_model,
                                  settings.gemini_model if mapper else "none",
                                  state.model.device).set(1)
        state.ready = True
        log.info("service_ready", disclosures=len(state.catalogue), device=state.model.device,
                 embedding_model=state.model.name, embedding_backend=state.model.backend,
                 index_rebuilt=store.rebuilt, llm=bool(mapper),
                 startup_s=round(time.perf_counter() - started, 2))
    except Exception as exc:
        error = as_internal(exc)
        state.startup_error = f"{error.error_type}: {error}"
        metrics.errors.labels(error.error_type, error.severity).inc()
        log.critical("service_start_failed", error_type=error.error_type,
                     severity=error.severity, exc_info=exc)


async def _background(state: ServiceState, checker: HealthChecker) -> None:
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


def create_app(settings: Settings | None = None, *, domain: Domain | None = None,
               registry: CollectorRegistry | None = None, span_processors: tuple = (),
               log_stream=None) -> FastAPI:
    domain = domain or compose(settings or Settings.from_env())
    settings = domain.settings
    configure_logging(settings.log_level, settings.log_format, settings.environment,
                      settings.version, stream=log_stream)
    provider = tracing.build_tracer_provider(
        settings.tracing_enabled, settings.otlp_endpoint, settings.environment,
        settings.version, tuple(span_processors) + profiling.span_processors(settings),
        sample_ratio=settings.tracing_sample_ratio)
    previous_provider = tracing.install(provider)
    experiment = domain.experiment
    variant_models = tuple(v.gemini_model for v in experiment.variants
                           if v.gemini_model) if experiment else ()
    metrics = Metrics(registry, model=settings.gemini_model,
                      variants=experiment.names if experiment else (),
                      models=variant_models, recording=settings.metrics_enabled)
    if experiment:
        for name, share in experiment.shares.items():
            metrics.experiment_weight.labels(experiment.name, name).set(share)
    limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst,
                          settings.redis_url,
                          on_storage_error=metrics.rate_limit_storage_errors.inc)
    api_keys = domain.api_keys
    state = ServiceState(settings, metrics, limiter, catalogue=domain.catalogue,
                         experiment=experiment)
    checker = HealthChecker(state)
    profiler = profiling.ContinuousProfiler(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        log.info("service_starting", settings=settings.redacted())
        profiler.start()  # here, not at import: the agent's threads do not survive a fork
        state.gpu = GPUSampler(metrics)
        starter = asyncio.create_task(_start(state))
        background = asyncio.create_task(_background(state, checker))
        # None unless AI_ASSIST_CANARY_INTERVAL_S > 0
        canary = golden_canary.start(state, domain.golden_set)
        yield
        for task in (starter, background, canary):
            if task is not None:
                task.cancel()
        if state.batcher:
            await state.batcher.stop()
        if state.pipeline and state.pipeline.mapper is not None:
            await state.pipeline.mapper.aclose()
        if state.pipeline and state.pipeline.cache is not None:
            await state.pipeline.cache.aclose()
        if state.store:
            state.store.close()
        log.info("service_stopped")
        profiler.stop()
        tracing.uninstall(provider, previous_provider)

    app = FastAPI(
        title="AI Assist",
        version=settings.version,
        summary="Maps ESG report passages to GRI, SASB, TCFD and ESRS disclosures.",
        description="E5 / MiniLM embedding, ChromaDB vector search over the disclosure "
                    "catalogue, Gemini 2.5 Flash choosing and explaining the matches, with "
                    "JSON repair, retries and an embedding-only fallback. Instrumented with "
                    "Prometheus metrics (/metrics), JSON logs and OpenTelemetry traces.",
        lifespan=lifespan,
        **_without_native_telemetry(),
    )
    app.state.service = state
    # set by the server when it starts shutting down (ai_assist/__main__.py): work that
    # could outlast the graceful shutdown (an on-demand profile) ends early
    app.state.shutting_down = threading.Event()

    def count_unhandled(exc: Exception, scope) -> tuple[str, str]:
        """An exception no route handled (the middleware answers 500 and logs it)."""
        error = as_internal(exc)
        metrics.errors.labels(error.error_type, error.severity).inc()
        if scope["path"] == MAP_PATH and not scope.get("state", {}).get("counted"):
            metrics.requests.labels("error", scope.get("state", {}).get("variant",
                                                                        VARIANT_NONE)).inc()
        return error.error_type, error.severity

    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes,
                       on_unhandled=count_unhandled, max_header_bytes=settings.max_header_bytes)
    if settings.trusted_proxies:  # X-Forwarded-For from these proxies names the client
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)

    def count_rejection(rejection: RequestRejected) -> None:
        metrics.requests.labels("rejected", VARIANT_NONE).inc()  # before any assignment
        metrics.rejected.labels(rejection.reason).inc()
        log.warning("request_rejected", reason=rejection.reason, message=rejection.message,
                    status=rejection.status)

    app.state.on_rejected = count_rejection

    def reject(rejection: RequestRejected, request_id: str) -> JSONResponse:
        count_rejection(rejection)
        return _error(rejection.status, rejection.reason, rejection.message, request_id,
                      rejection.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, "http_error", str(exc.detail),
                      request.state.request_id, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return _error(422, "invalid_request", describe_validation_errors(list(exc.errors())),
                      request.state.request_id)

    # Unexpected exceptions: RequestContextMiddleware answers them (one place, see there).

    admin_digest = key_digest(settings.admin_api_key)
    qa_names = settings.qa_key_names

    def identify(request: Request) -> tuple[str, bool]:
        """The client id for logs and limits (the API key's name, else the peer address;
        ADMIN_CLIENT for the admin key), and whether it is a QA credential, which may
        force an experiment variant (the admin key, or a key named in
        AI_ASSIST_EXPERIMENT_QA_KEYS)."""
        is_admin = key_matches(api_keys.presented(request.headers), admin_digest)
        if not api_keys.enabled:
            return peer_address(request.scope), is_admin
        name = api_keys.name_for(request.headers)
        if name is None and is_admin:
            return ADMIN_CLIENT, True
        if name is None:
            given = "the API key given is not valid" if api_keys.presented(request.headers) \
                else "no API key given"
            raise RequestRejected("unauthorized", f"{given}: send `Authorization: Bearer "
                                  f"<key>` or `X-API-Key: <key>`", 401,
                                  {"WWW-Authenticate": 'Bearer realm="ai-assist"'})
        return name, name in qa_names or is_admin

    def cache_tenant(client: str, company_id: str | None) -> str | None:
        """Whose cache entries a request may be served (AI_ASSIST_CACHE_SCOPE): the API
        key's name, else the company the request names, else the client address; None
        when the cache is shared by everyone."""
        if settings.cache_scope == "shared":
            return None
        if api_keys.enabled:
            return f"key:{client}"
        return f"company:{company_id}" if company_id else f"client:{client}"

    internal_error = {"model": ErrorBody, "description": "Unexpected failure "
                      "(internal_error); the logs hold the details under the request id, "
                      "and the server closes the connection."}
    retry_after = {"Retry-After": {"description": "Seconds to wait before trying again.",
                                   "schema": {"type": "integer", "minimum": 1}}}
    error_responses = {
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
        429: {"model": ErrorBody, "headers": retry_after,
              "description": f"Over the rate limit (rate_limited): "
                             f"{settings.rate_limit_per_minute}/min and "
                             f"{settings.rate_limit_burst} at once per client, "
                             f"{limiter.backend}; see Retry-After."},
        500: internal_error,
        502: {"model": ErrorBody, "description": "Gemini failed and the fallback is off."},
        503: {"model": ErrorBody, "headers": retry_after,
              "description": "Warming up, overloaded or a dependency is down; see "
                             "Retry-After."},
    }
    if settings.cache_enabled:
        error_responses[200] = {"description": "The matches.", "headers": {CACHE_HEADER: {
            "description": "hit: the answer comes from the response cache; miss: the "
                           "pipeline made it.",
            "schema": {"type": "string", "enum": ["hit", "miss"]}}}}
    map_openapi: dict = {"requestBody": {"required": True, "content": {"application/json": {
        "schema": map_request_schema(settings.max_text_chars, settings.max_top_k)}}}}
    if api_keys.enabled:
        error_responses[401] = {"model": ErrorBody, "description": (
            "No valid API key (unauthorized): send `Authorization: Bearer <key>` or "
            "`X-API-Key: <key>`.")}
        map_openapi["security"] = [{"bearerKey": []}, {"apiKeyHeader": []}]

    @app.post(MAP_PATH, response_model=MapResponse, responses=error_responses,
              tags=["mapping"], summary="Map a report passage to ESG disclosures",
              openapi_extra=map_openapi)
    async def map_esg(request: Request) -> Response:
        deadline = time.monotonic() + settings.request_deadline_s  # spent by the LLM stage
        request_id = request.state.request_id
        try:
            client, may_force = identify(request)
            structlog.contextvars.bind_contextvars(client_id=client)
            wait = await state.limiter.acquire(client)
            if wait:
                raise RequestRejected("rate_limited", f"rate limit of "
                                      f"{settings.rate_limit_per_minute}/min (at most "
                                      f"{settings.rate_limit_burst} at once) exceeded for "
                                      f"this client; retry later", 429,
                                      {"Retry-After": RateLimiter.retry_after(wait)})
            content_type = request.headers.get("content-type", "")
            if content_type.split(";")[0].strip().lower() != "application/json":
                raise RequestRejected("unsupported_media_type", f"Content-Type must be "
                                      f"application/json, not "
                                      f"{clip(content_type) or 'missing'!r}", 415)
            payload = decode_json_body(await request.body())
            try:
                body = MapRequest.model_validate(payload)
            except ValidationError as exc:
                raise RequestRejected("invalid_request", _describe(exc)) from None
            text, frameworks = validate_map_request(body, settings)
            try:
                assignment = choose(experiment, body.company_id, client,
                                    request.headers.get(FORCE_HEADER), may_force)
            except ForcingForbidden as exc:
                raise RequestRejected("variant_forcing_forbidden", str(exc), 403) from None
            except UnknownVariant as exc:
                raise RequestRejected("unknown_variant", str(exc), 400) from None
        except RequestRejected as rejection:
            return reject(rejection, request_id)
        if not state.ready:
            message = state.startup_error or "warming up: the model and index are loading"
            return _error(503, "not_ready", message, request_id, {"Retry-After": "5"})

        structlog.contextvars.bind_contextvars(company_id=body.company_id,
                                               user_id=body.user_id)
        span = trace.get_current_span()
        for key, value in (("enduser.id", body.user_id), ("esg.company_id", body.company_id)):
            if value:
                span.set_attribute(key, value)
        variant = assignment.label if assignment else VARIANT_NONE  # what answers it
        # The per-variant comparison (the `variant` label of the request metrics) counts
        # only requests the assignment placed: a forced one is labelled "none" (and its
        # tokens too), and so is a cache hit, below. Both are counted per variant in
        # esg_experiment_excluded_requests_total instead.
        compared = variant if assignment and not assignment.forced else VARIANT_NONE
        request.state.variant = compared
        tally = experiment_context.bind(compared)  # the LLM stage adds the request's tokens
        if assignment:
            structlog.contextvars.bind_contextvars(experiment=assignment.experiment,
                                                   variant=variant,
                                                   variant_forced=assignment.forced)
            span.set_attribute("esg.experiment", assignment.experiment)
            span.set_attribute("esg.experiment.variant", variant)
            span.set_attribute("esg.experiment.forced", assignment.forced)
        metrics.in_progress.inc()
        start = time.perf_counter()
        status = "error"
        cached = False
        try:
            with tracer.start_as_current_span("esg_mapping"):
                # the client leaving cancels the work (see ai_assist/cancellation.py)
                result: MappingResult = await unless_disconnected(
                    request.receive,
                    state.pipeline.run(text, frameworks, body.top_k, deadline,
                                       variant=assignment.variant if assignment else None,
                                       label=compared,
                                       tenant=cache_tenant(client, body.company_id)))
            status = "fallback" if result.fallback_used else "success"
            cached = result.cached
            if state.pipeline.mapper is not None:
                state.gemini_outcomes.record(not result.fallback_used)
        except AIAssistError as error:
            if isinstance(error, GeminiAPIError):
                state.gemini_outcomes.record(False)  # already counted by the pipeline
            else:
                state.pipeline.record_error(error)
            headers = {"Retry-After": "1"} if error.http_status == 503 else {}
            if assignment:
                headers[FORCE_HEADER] = variant
            return _error(error.http_status, error.error_type, str(error), request_id,
                          headers or None)
        except ClientDisconnected:
            status = "cancelled"
            log.info("request_cancelled", reason="client_disconnected",
                     elapsed_ms=round((time.perf_counter() - start) * 1000, 2))
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        finally:
            request.state.counted = True  # the middleware must not count it again
            metrics.in_progress.dec()
            label = VARIANT_NONE if cached else compared
            if assignment and (assignment.forced or cached):
                metrics.experiment_excluded.labels(
                    "forced" if assignment.forced else "cached", variant).inc()
            if status in ANSWERED_STATUSES:
                metrics.request_duration.labels(status, label).observe(
                    time.perf_counter() - start, exemplar=tracing.trace_exemplar())
                metrics.request_tokens.labels(label).inc(tally.tokens)
                metrics.request_tokens_squares.labels(label).inc(tally.tokens ** 2)
            metrics.requests.labels(status, label).inc()
        response = MapResponse(
            request_id=request_id, average_confidence=result.average_confidence,
            fallback_used=result.fallback_used, fallback_reason=result.fallback_reason,
            model=result.model, cached=result.cached,
            matches=[MatchOut(framework=m.framework, disclosure_id=m.disclosure_id,
                              title=m.title, confidence=m.confidence, rationale=m.rationale)
                     for m in result.matches])
        headers = {FORCE_HEADER: variant} if assignment else {}
        if settings.cache_enabled:
            headers[CACHE_HEADER] = "hit" if result.cached else "miss"
        return JSONResponse(response.model_dump(), headers=headers or None)

    @app.get("/health", response_model=HealthResponse, tags=["health"],
             summary="Component health (200 healthy or degraded, 503 unhealthy)",
             responses={503: {"model": HealthResponse}, 500: internal_error})
    async def health() -> JSONResponse:
        if not state.ready:
            return JSONResponse(HealthResponse(
                status="unhealthy", checks={}, version=settings.version,
                timestamp=datetime.now(timezone.utc).isoformat(),
                detail=state.startup_error or "starting").model_dump(), status_code=503)
        report = await checker.check()
        return JSONResponse(report.model_dump(),
                            status_code=503 if report.status == "unhealthy" else 200)

    plain_text = {"text/plain": {"schema": {"type": "string"}}}

    @app.get("/livez", tags=["health"], summary="Liveness: the process answers",
             response_class=PlainTextResponse,
             responses={200: {"description": "`ok`", "content": plain_text},
                        500: internal_error})
    async def livez() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/readyz", tags=["health"], summary="Readiness: model loaded and index built",
             response_class=PlainTextResponse,
             responses={200: {"description": "`ready`", "content": plain_text},
                        503: {"description": "still loading, or start-up failed (the "
                                             "reason)", "content": plain_text},
                        500: internal_error})
    async def readyz() -> PlainTextResponse:
        if state.ready:
            return PlainTextResponse("ready")
        return PlainTextResponse(state.startup_error or "starting", status_code=503)

    exposition = {"description": "Prometheus text format 0.0.4, or OpenMetrics 1.0 (with "
                                 "exemplars) when the Accept header asks for it.",
                  "content": {"text/plain": {"schema": {"type": "string"}},
                              "application/openmetrics-text": {"schema": {"type": "string"}}}}

    @app.get("/metrics", tags=["telemetry"], summary="Prometheus metrics (OpenMetrics "
                                                     "with exemplars when asked)",
             response_class=Response,
             responses={200: exposition,
                        404: {"model": ErrorBody, "description": "Metrics are off "
                              "(AI_ASSIST_METRICS_ENABLED=false): metrics_disabled."},
                        500: internal_error})
    async def metrics_endpoint(request: Request) -> Response:
        if not settings.metrics_enabled:
            return _error(404, "metrics_disabled", "AI_ASSIST_METRICS_ENABLED=false",
                          request.state.request_id)
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        state.scraped.set()
        return Response(encoder(metrics.registry), media_type=content_type)

    if api_keys.enabled:
        _describe_api_keys(app)
    if settings.admin_api_key:  # POST /admin/profile, outside the OpenAPI document
        admin_profile.add_routes(app, settings, metrics, app.state.shutting_down)

    return app


def _describe_api_keys(app: FastAPI) -> None:
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
