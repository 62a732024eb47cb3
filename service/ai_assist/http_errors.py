"""Error answers (the ErrorBody JSON) and the counting of requests that end before or
outside the pipeline: rejections, and exceptions no route handled (the request
middleware answers those, telemetry/middleware.py, and calls back here to count them)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ai_assist import request_context
from ai_assist.experiments import VARIANT_NONE
from ai_assist.mapping.pipeline import as_internal
from ai_assist.rejections import RequestRejected, describe_validation_errors
from ai_assist.schemas import ErrorBody
from ai_assist.telemetry.logging import get_logger
from ai_assist.telemetry.metrics import Metrics

MAP_PATH = "/v1/esg/map"
log = get_logger("ai_assist.app")


def error_response(status: int, reason: str, message: str, request_id: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=reason, message=message, request_id=request_id)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


class RequestCounting:
    """The middleware's two callbacks, both counted on the mapping route's metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def rejected(self, rejection: RequestRejected) -> None:
        """A request of the mapping route refused before the pipeline."""
        self.metrics.requests.labels("rejected", VARIANT_NONE).inc()  # before assignment
        self.metrics.rejected.labels(rejection.reason).inc()
        log.warning("request_rejected", reason=rejection.reason, message=rejection.message,
                    status=rejection.status)

    def unhandled(self, exc: Exception, scope) -> tuple[str, str]:
        """An exception no route handled (the middleware answers 500 and logs it)."""
        error = as_internal(exc)
        self.metrics.errors.labels(error.error_type, error.severity).inc()
        context = request_context.peek()
        if scope["path"] == MAP_PATH and not (context and context.counted):
            self.metrics.requests.labels(
                "error", context.variant if context else VARIANT_NONE).inc()
        return error.error_type, error.severity

    def reject(self, rejection: RequestRejected, request_id: str) -> JSONResponse:
        self.rejected(rejection)
        return error_response(rejection.status, rejection.reason, rejection.message,
                              request_id, rejection.headers)


def install_error_handlers(app: FastAPI) -> None:
    """HTTP errors and invalid requests as ErrorBody JSON. Unexpected exceptions:
    RequestContextMiddleware answers them (one place, see there)."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return error_response(exc.status_code, "http_error", str(exc.detail),
                              request.state.request_id, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return error_response(422, "invalid_request",
                              describe_validation_errors(list(exc.errors())),
                              request.state.request_id)
