"""POST /v1/esg/map: admit the request (who is calling, their rate limit, the body, the
experiment variant), run the pipeline under the request's deadline, count the outcome
and answer. Its OpenAPI text is in ai_assist/openapi_docs.py."""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from pydantic import ValidationError

from ai_assist import openapi_docs, request_context
from ai_assist.cancellation import CLIENT_CLOSED_REQUEST, ClientDisconnected, \
    unless_disconnected
from ai_assist.errors import AIAssistError, GeminiAPIError
from ai_assist.experiments import (
    FORCE_HEADER, VARIANT_NONE, Assignment, ForcingForbidden, UnknownVariant, choose,
    context as experiment_context,
)
from ai_assist.http_errors import MAP_PATH, RequestCounting, error_response
from ai_assist.identity import ADMIN_CLIENT, ApiKeys, key_digest, key_matches, peer_address
from ai_assist.lifecycle import ServiceState
from ai_assist.mapping.cache import CACHE_HEADER
from ai_assist.mapping.pipeline import MappingResult
from ai_assist.ratelimit import RateLimiter
from ai_assist.rejections import RequestRejected, clip, decode_json_body, \
    describe_validation_errors, validate_map_request
from ai_assist.schemas import MapRequest, MapResponse, MatchOut
from ai_assist.telemetry import tracing
from ai_assist.telemetry.logging import get_logger
from ai_assist.telemetry.metrics import ANSWERED_STATUSES

log = get_logger("ai_assist.app")
tracer = trace.get_tracer("ai_assist.app")


@dataclass(frozen=True)
class Admitted:
    """A request that passed every check before the pipeline."""

    body: MapRequest
    text: str
    frameworks: tuple[str, ...]
    assignment: Assignment | None
    tenant: str | None  # whose cache entries it may be served

    @property
    def variant(self) -> str:
        """The variant that answers it (VARIANT_NONE without an experiment)."""
        return self.assignment.label if self.assignment else VARIANT_NONE

    @property
    def compared(self) -> str:
        """Its label in the per-variant comparison: only requests the assignment placed
        count there; a forced one is labelled "none" (and its tokens too), and so is a
        cache hit (see _count). Both are counted per variant in
        esg_experiment_excluded_requests_total instead."""
        assigned = self.assignment and not self.assignment.forced
        return self.variant if assigned else VARIANT_NONE


class MapRoute:
    def __init__(self, state: ServiceState, api_keys: ApiKeys,
                 counting: RequestCounting) -> None:
        self.state = state
        self.settings = state.settings
        self.metrics = state.metrics
        self.api_keys = api_keys
        self.counting = counting
        self._admin_digest = key_digest(self.settings.admin_api_key)

    def add_to(self, app: FastAPI) -> None:
        keys = self.api_keys.enabled
        app.post(MAP_PATH, response_model=MapResponse, tags=["mapping"],
                 summary="Map a report passage to ESG disclosures",
                 responses=openapi_docs.map_responses(self.settings,
                                                      self.state.limiter.backend, keys),
                 openapi_extra=openapi_docs.map_openapi_extra(self.settings, keys))(
            self.handle)

    async def handle(self, request: Request) -> Response:
        deadline = time.monotonic() + self.settings.request_deadline_s  # for the LLM stage
        request_id = request.state.request_id
        try:
            admitted = await self._admit(request)
        except RequestRejected as rejection:
            return self.counting.reject(rejection, request_id)
        if not self.state.ready:
            message = self.state.startup_error or "warming up: the model and index are loading"
            return error_response(503, "not_ready", message, request_id, {"Retry-After": "5"})
        self._describe(admitted)
        return await self._answer(request, admitted, deadline)

    # --- before the pipeline ---------------------------------------------------------
    def _identify(self, request: Request) -> tuple[str, bool]:
        """The client id for logs and limits (the API key's name, else the peer address;
        ADMIN_CLIENT for the admin key), and whether it is a QA credential, which may
        force an experiment variant (the admin key, or a key named in
        AI_ASSIST_EXPERIMENT_QA_KEYS)."""
        api_keys = self.api_keys
        is_admin = key_matches(api_keys.presented(request.headers), self._admin_digest)
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
        return name, name in self.settings.qa_key_names or is_admin

    def _cache_tenant(self, client: str, company_id: str | None) -> str | None:
        """Whose cache entries a request may be served (AI_ASSIST_CACHE_SCOPE): the API
        key's name, else the company the request names, else the client address; None
        when the cache is shared by everyone."""
        if self.settings.cache_scope == "shared":
            return None
        if self.api_keys.enabled:
            return f"key:{client}"
        return f"company:{company_id}" if company_id else f"client:{client}"

    async def _admit(self, request: Request) -> Admitted:
        """Every check before the pipeline, in order; RequestRejected names the first
        that fails."""
        settings = self.settings
        client, may_force = self._identify(request)
        request_context.update(client=client)
        wait = await self.state.limiter.acquire(client)
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
            raise RequestRejected("invalid_request", describe_validation_errors(
                exc.errors(include_input=False))) from None
        text, frameworks = validate_map_request(body, settings)
        try:
            assignment = choose(self.state.experiment, body.company_id, client,
                                request.headers.get(FORCE_HEADER), may_force)
        except ForcingForbidden as exc:
            raise RequestRejected("variant_forcing_forbidden", str(exc), 403) from None
        except UnknownVariant as exc:
            raise RequestRejected("unknown_variant", str(exc), 400) from None
        return Admitted(body, text, frameworks, assignment,
                        self._cache_tenant(client, body.company_id))

    def _describe(self, admitted: Admitted) -> None:
        """The request's identity and variant on its context, log lines and span."""
        body, assignment = admitted.body, admitted.assignment
        request_context.update(company_id=body.company_id, user_id=body.user_id)
        span = trace.get_current_span()
        for key, value in (("enduser.id", body.user_id), ("esg.company_id", body.company_id)):
            if value:
                span.set_attribute(key, value)
        experiment_context.bind(admitted.compared)  # the LLM stage adds the tokens
        if assignment:
            structlog.contextvars.bind_contextvars(experiment=assignment.experiment,
                                                   variant=admitted.variant,
                                                   variant_forced=assignment.forced)
            span.set_attribute("esg.experiment", assignment.experiment)
            span.set_attribute("esg.experiment.variant", admitted.variant)
            span.set_attribute("esg.experiment.forced", assignment.forced)

    # --- the pipeline and the answer ---------------------------------------------------
    async def _answer(self, request: Request, admitted: Admitted,
                      deadline: float) -> Response:
        state, assignment = self.state, admitted.assignment
        self.metrics.in_progress.inc()
        start = time.perf_counter()
        status, cached = "error", False
        try:
            with tracer.start_as_current_span("esg_mapping"):
                # the client leaving cancels the work (see ai_assist/cancellation.py)
                result: MappingResult = await unless_disconnected(
                    request.receive,
                    state.pipeline.run(admitted.text, admitted.frameworks,
                                       admitted.body.top_k, deadline,
                                       variant=assignment.variant if assignment else None,
                                       label=admitted.compared, tenant=admitted.tenant))
            status = "fallback" if result.fallback_used else "success"
            cached = result.cached
            if state.pipeline.mapper is not None:
                state.gemini_outcomes.record(not result.fallback_used)
        except AIAssistError as error:
            return self._failed(error, admitted, request.state.request_id)
        except ClientDisconnected:
            status = "cancelled"
            log.info("request_cancelled", reason="client_disconnected",
                     elapsed_ms=round((time.perf_counter() - start) * 1000, 2))
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        finally:
            self._count(admitted, status, cached, time.perf_counter() - start)
        return self._respond(result, admitted, request.state.request_id)

    def _failed(self, error: AIAssistError, admitted: Admitted,
                request_id: str) -> JSONResponse:
        if isinstance(error, GeminiAPIError):
            self.state.gemini_outcomes.record(False)  # already counted by the pipeline
        else:
            self.state.pipeline.record_error(error)
        headers = {"Retry-After": "1"} if error.http_status == 503 else {}
        if admitted.assignment:
            headers[FORCE_HEADER] = admitted.variant
        return error_response(error.http_status, error.error_type, str(error), request_id,
                              headers or None)

    def _count(self, admitted: Admitted, status: str, cached: bool, seconds: float) -> None:
        metrics, assignment = self.metrics, admitted.assignment
        context = request_context.current()
        context.counted = True  # the middleware must not count it again
        metrics.in_progress.dec()
        label = VARIANT_NONE if cached else admitted.compared
        if assignment and (assignment.forced or cached):
            metrics.experiment_excluded.labels(
                "forced" if assignment.forced else "cached", admitted.variant).inc()
        if status in ANSWERED_STATUSES:
            metrics.request_duration.labels(status, label).observe(
                seconds, exemplar=tracing.trace_exemplar())
            metrics.request_tokens.labels(label).inc(context.tokens)
            metrics.request_tokens_squares.labels(label).inc(context.tokens ** 2)
        metrics.requests.labels(status, label).inc()

    def _respond(self, result: MappingResult, admitted: Admitted,
                 request_id: str) -> JSONResponse:
        response = MapResponse(
            request_id=request_id, average_confidence=result.average_confidence,
            fallback_used=result.fallback_used, fallback_reason=result.fallback_reason,
            model=result.model, cached=result.cached,
            matches=[MatchOut(framework=m.framework, disclosure_id=m.disclosure_id,
                              title=m.title, confidence=m.confidence, rationale=m.rationale)
                     for m in result.matches])
        headers = {FORCE_HEADER: admitted.variant} if admitted.assignment else {}
        if self.settings.cache_enabled:
            headers[CACHE_HEADER] = "hit" if result.cached else "miss"
        return JSONResponse(response.model_dump(), headers=headers or None)
