"""The request middleware (pure ASGI): request id, server span, log context, body limit,
one access log line per request, and the one place where an unexpected exception
becomes an answer.

It wraps the app inside Starlette's ServerErrorMiddleware, so an exception that escapes
a route reaches it first: while the response has not started it answers a JSON 500 that
carries X-Request-ID and `Connection: close`, logs exactly one error line with the
traceback (nothing is re-raised, so neither Starlette nor uvicorn logs a second one),
counts it through the app's hook, and still writes the access line.

Its callbacks, both given to the constructor: `on_unhandled(exc, scope)` counts an
unexpected exception, `on_rejected(rejection)` a mapping request it refuses itself (too
large). Each request gets its context (ai_assist/request_context.py) here."""

from __future__ import annotations

import json
import re
import time
import uuid

import structlog
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ai_assist import request_context
from ai_assist.rejections import RequestRejected
from ai_assist.telemetry.logging import get_logger

INTERNAL_ERROR_MESSAGE = ("internal error: the service failed unexpectedly; its logs hold "
                          "the details under this request id")

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_PATHS = ("/metrics", "/livez", "/readyz")
_REJECTIONS_COUNTED = "/v1/esg/map"  # on_rejected: refusals of the mapping route only

tracer = trace.get_tracer("ai_assist.http")
log = get_logger("ai_assist.http")


def request_id_from(headers: dict[str, str]) -> str:
    """The caller's X-Request-ID when it is sane (bounded, plain charset), else a new one."""
    incoming = headers.get(REQUEST_ID_HEADER, "")
    return incoming if _VALID_REQUEST_ID.match(incoming) else str(uuid.uuid4())


class BodyTooLarge(Exception):
    pass


def header_bytes(scope) -> int:
    """The request line and headers as they were sent on HTTP/1.1 (names, values, `: `,
    line ends, the blank line): what AI_ASSIST_MAX_HEADER_BYTES bounds."""
    target = len(scope.get("raw_path") or scope["path"].encode("utf-8"))
    query = scope.get("query_string") or b""
    line = len(scope["method"]) + 1 + target + (1 + len(query) if query else 0) + 11
    return line + sum(len(k) + len(v) + 4 for k, v in scope.get("headers", [])) + 2


class RequestContextMiddleware:
    def __init__(self, app, max_body_bytes: int, on_unhandled=None,
                 max_header_bytes: int = 0, on_rejected=None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # 0: no bound here. The server's own bound (h11) holds only while a header block
        # is incomplete: a whole block that arrives in one read passes it, so the app
        # checks the total of every request itself.
        self.max_header_bytes = max_header_bytes
        # on_unhandled(exc, scope) -> (error_type, severity): the app counts the error
        self.on_unhandled = on_unhandled
        # on_rejected(RequestRejected): the app counts a refusal of the mapping route
        self.on_rejected = on_rejected

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        request_id = request_id_from(headers)
        scope.setdefault("state", {})["request_id"] = request_id
        method, path = scope["method"], scope["path"]
        structlog.contextvars.clear_contextvars()
        request_context.begin(request_id)

        status_holder = {"status": 500, "started": False}
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge()
            return message

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        start = time.perf_counter()
        context = propagate.extract(headers)
        with tracer.start_as_current_span(f"{method} {path}", context=context,
                                          kind=SpanKind.SERVER) as span:
            span.set_attribute("http.request.method", method)
            span.set_attribute("url.path", path)
            span.set_attribute("request.id", request_id)
            declared = headers.get("content-length", "")
            sent_headers = header_bytes(scope) if self.max_header_bytes else 0
            if sent_headers > self.max_header_bytes:
                await self._refuse(send_with_id, request_id, scope, "headers_too_large",
                                   f"the request line and headers take {sent_headers} "
                                   f"bytes; the limit is {self.max_header_bytes}", 431,
                                   [(b"connection", b"close")])
            elif declared.isdigit() and int(declared) > self.max_body_bytes:
                await self._too_large(send_with_id, request_id, scope)
            else:
                try:
                    await self.app(scope, counting_receive, send_with_id)
                except BodyTooLarge:
                    await self._too_large(send_with_id, request_id, scope)
                except Exception as exc:  # the one place: see the module's docstring
                    span.record_exception(exc)
                    await self._unhandled(exc, scope, request_id, send_with_id,
                                          status_holder["started"])
                    status_holder["status"] = 500
            status = status_holder["status"]
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            if path not in _QUIET_PATHS:
                log.info("request_completed", method=method, path=path, status=status,
                         duration_ms=round((time.perf_counter() - start) * 1000, 2))
        structlog.contextvars.clear_contextvars()

    async def _unhandled(self, exc: Exception, scope, request_id: str, send,
                         started: bool) -> None:
        error_type, severity = "InternalError", "CRITICAL"
        if self.on_unhandled is not None:
            try:
                error_type, severity = self.on_unhandled(exc, scope)
            except Exception:  # counting must never hide the error itself
                pass
        log.error("unhandled_exception", error_type=error_type, severity=severity,
                  path=scope["path"], response_started=started, exc_info=exc)
        if started:
            # Too late for a status: returning without finishing the body makes the
            # server close the connection, and the client sees a truncated answer.
            return
        await _send_error(send, 500, "internal_error", INTERNAL_ERROR_MESSAGE, request_id,
                          [(b"connection", b"close")])

    async def _too_large(self, send, request_id: str, scope) -> None:
        await self._refuse(send, request_id, scope, "body_too_large",
                           f"request body is larger than {self.max_body_bytes} bytes", 413)

    async def _refuse(self, send, request_id: str, scope, reason: str, message: str,
                      status: int, headers: list[tuple[bytes, bytes]] = ()) -> None:
        """A refusal before the app: counted as the mapping route's rejection there."""
        rejection = RequestRejected(reason, message, status=status)
        if self.on_rejected is not None and scope["path"].startswith(_REJECTIONS_COUNTED):
            self.on_rejected(rejection)
        await _send_error(send, rejection.status, rejection.reason, rejection.message,
                          request_id, headers)


async def _send_error(send, status: int, reason: str, message: str, request_id: str,
                      headers: list[tuple[bytes, bytes]] = ()) -> None:
    """A JSON error answer (the app's ErrorBody shape) straight on the ASGI channel."""
    body = json.dumps({"error": reason, "message": message,
                       "request_id": request_id}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})
