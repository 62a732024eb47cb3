"""GET /health (component health), /livez, /readyz and /metrics."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client.exposition import choose_encoder

from ai_assist import openapi_docs as docs
from ai_assist.health import HealthChecker
from ai_assist.http_errors import error_response
from ai_assist.lifecycle import ServiceState
from ai_assist.schemas import HealthResponse


def add_probes(app: FastAPI, state: ServiceState, checker: HealthChecker) -> None:
    settings = state.settings

    @app.get("/health", response_model=HealthResponse, tags=["health"],
             summary="Component health (200 healthy or degraded, 503 unhealthy)",
             responses=docs.HEALTH_RESPONSES)
    async def health() -> JSONResponse:
        if not state.ready:
            return JSONResponse(HealthResponse(
                status="unhealthy", checks={}, version=settings.version,
                timestamp=datetime.now(timezone.utc).isoformat(),
                detail=state.startup_error or "starting").model_dump(), status_code=503)
        report = await checker.check()
        return JSONResponse(report.model_dump(),
                            status_code=503 if report.status == "unhealthy" else 200)

    @app.get("/livez", tags=["health"], summary="Liveness: the process answers",
             response_class=PlainTextResponse, responses=docs.LIVEZ_RESPONSES)
    async def livez() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/readyz", tags=["health"], summary="Readiness: model loaded and index built",
             response_class=PlainTextResponse, responses=docs.READYZ_RESPONSES)
    async def readyz() -> PlainTextResponse:
        if state.ready:
            return PlainTextResponse("ready")
        return PlainTextResponse(state.startup_error or "starting", status_code=503)

    @app.get("/metrics", tags=["telemetry"], summary="Prometheus metrics (OpenMetrics "
                                                     "with exemplars when asked)",
             response_class=Response, responses=docs.METRICS_RESPONSES)
    async def metrics_endpoint(request: Request) -> Response:
        if not settings.metrics_enabled:
            return error_response(404, "metrics_disabled", "AI_ASSIST_METRICS_ENABLED=false",
                                  request.state.request_id)
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        state.scraped.set()
        return Response(encoder(state.metrics.registry), media_type=content_type)
