"""Structured logs: one JSON event a line on stdout (structlog), ready for Loki.

Every line carries timestamp (UTC, ISO 8601), level, event, service, environment,
version, and — inside a request — request_id, trace_id, span_id and the caller's
company_id / user_id. The submitted text is never logged: only its length and hash.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import sys

import structlog
import structlog.tracebacks
from opentelemetry import trace

SERVICE_NAME = "ai-assist"


def text_fingerprint(text: str) -> dict[str, object]:
    """What may be logged about a submitted text."""
    return {"text_length": len(text),
            "text_sha256": hashlib.sha256(text.encode()).hexdigest()[:16]}


def _add_trace_context(_, __, event: dict) -> dict:
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event.setdefault("span_id", format(ctx.span_id, "016x"))
    return event


def _lowercase_level(_, __, event: dict) -> dict:
    if "level" in event:
        event["level"] = str(event["level"]).lower()
    return event


def configure_logging(level: str, fmt: str, environment: str, version: str,
                      stream=None) -> None:
    """Route structlog and the stdlib loggers (uvicorn's too) to one formatter."""
    stream = stream or sys.stdout
    static = {"service": SERVICE_NAME, "environment": environment, "version": version}

    def add_static(_, __, event: dict) -> dict:
        for key, value in static.items():
            event.setdefault(key, value)
        return event

    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        _lowercase_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        add_static,
        _add_trace_context,
    ]
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        # No locals in tracebacks: they would carry the submitted text into the logs.
        tail = [structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False))]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
        tail = []

    structlog.configure(
        # filter_by_level first: an event below the level costs no processor at all
        processors=[structlog.stdlib.filter_by_level, *shared,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    *tail, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The request middleware logs every request; uvicorn's access line would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
    # Python warnings (libraries' deprecations) become events of the logger py.warnings,
    # not raw text on stderr. Released first: capturing again is a no-op while an earlier
    # capture is on, even if warnings.showwarning was swapped out since.
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    silence_progress_bars()
    # google_genai: its "AFC is enabled" INFO line came with every Gemini call.
    for noisy in ("httpx", "httpcore", "chromadb", "sentence_transformers", "urllib3",
                  "google_genai"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def silence_progress_bars() -> None:
    """Every line on stdout and stderr is a JSON event: no progress bars. transformers and
    huggingface_hub draw theirs with tqdm (the "Loading weights" bar of every start); the
    variables cover libraries imported later, the calls those already imported."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    if "huggingface_hub" in sys.modules:
        importlib.import_module("huggingface_hub.utils").disable_progress_bars()
    if "transformers" in sys.modules:
        importlib.import_module("transformers.utils.logging").disable_progress_bar()


def get_logger(name: str = "ai_assist"):
    return structlog.get_logger(name)
