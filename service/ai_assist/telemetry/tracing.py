"""OpenTelemetry tracing. With AI_ASSIST_TRACING_ENABLED the SDK's TracerProvider records
spans and exports them over OTLP; with it off (and no span processor asked for, as tests
and the profiler do) the API's no-op provider is installed: the code path is the same,
every span is a non-recording one that costs a context switch and nothing else, and logs
carry a trace id only when the caller sent a traceparent (the no-op tracer keeps the
parent's context)."""

from __future__ import annotations

import logging
import threading

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from ai_assist.telemetry.logging import SERVICE_NAME

# A collector that is down must not hold the process's exit: one export try gives up
# after EXPORT_TIMEOUT_S, and the flush at shutdown after SHUTDOWN_TIMEOUT_S.
EXPORT_TIMEOUT_S = 2.0
SHUTDOWN_TIMEOUT_S = 3.0


def build_tracer_provider(enabled: bool, otlp_endpoint: str, environment: str,
                          version: str, extra_processors: tuple[SpanProcessor, ...] = (),
                          sample_ratio: float = 1.0
                          ) -> TracerProvider | trace.NoOpTracerProvider:
    if not enabled and not extra_processors:
        return trace.NoOpTracerProvider()
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
                              resource=Resource.create({
        "service.name": SERVICE_NAME,
        "service.version": version,
        "deployment.environment": environment,
    }))
    if enabled:
        provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(otlp_endpoint)))
    for processor in extra_processors:
        provider.add_span_processor(processor)
    return provider


def _otlp_exporter(endpoint: str) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces",
                            timeout=EXPORT_TIMEOUT_S)


_installed: TracerProvider | None = None


def install(provider) -> TracerProvider | None:
    """Make `provider` the global one and return the one it replaces. The OTel API allows
    setting the global provider once per process, so a proxy is set once and later apps in
    the same process (tests) swap its target."""
    global _installed
    if _installed is None:
        trace.set_tracer_provider(_ProxyProvider(provider))
        _installed = provider
        return None
    proxy = trace.get_tracer_provider()
    previous, proxy.target = proxy.target, provider  # type: ignore[attr-defined]
    return previous


def uninstall(provider, previous: TracerProvider | None) -> None:
    """Flush and stop `provider`, waiting at most SHUTDOWN_TIMEOUT_S (the SDK's own
    flush waits up to 30 s for a collector); give the global slot back to `previous`."""
    stopper = threading.Thread(target=getattr(provider, "shutdown", lambda: None),
                               name="otel-shutdown", daemon=True)
    stopper.start()
    stopper.join(SHUTDOWN_TIMEOUT_S)
    if stopper.is_alive():
        logging.getLogger("ai_assist.tracing").warning(
            "trace exporter did not flush within %.0f s; spans left unsent",
            SHUTDOWN_TIMEOUT_S)
    proxy = trace.get_tracer_provider()
    if previous is not None and getattr(proxy, "target", None) is provider:
        proxy.target = previous


class _ProxyProvider(trace.TracerProvider):
    def __init__(self, target: TracerProvider) -> None:
        self.target = target

    def get_tracer(self, *args, **kwargs):
        return _ProxyTracer(self, args, kwargs)


class _ProxyTracer(trace.Tracer):
    """Resolves the provider at span start, so module-level tracers follow `install`."""

    def __init__(self, proxy: _ProxyProvider, args, kwargs) -> None:
        self._proxy, self._args, self._kwargs = proxy, args, kwargs
        self._for: tuple | None = None  # (provider, its tracer): get_tracer builds anew

    def _tracer(self):
        target = self._proxy.target
        cached = self._for
        if cached is None or cached[0] is not target:
            cached = self._for = (target, target.get_tracer(*self._args, **self._kwargs))
        return cached[1]

    def start_span(self, *args, **kwargs):
        return self._tracer().start_span(*args, **kwargs)

    def start_as_current_span(self, *args, **kwargs):
        return self._tracer().start_as_current_span(*args, **kwargs)


def trace_exemplar() -> dict[str, str] | None:
    """The current trace id as a histogram exemplar, so Grafana links a bucket to Tempo
    (only a recorded trace: an unsampled one would link to nothing)."""
    ctx = trace.get_current_span().get_span_context()
    return ({"trace_id": format(ctx.trace_id, "032x")}
            if ctx.is_valid and ctx.trace_flags.sampled else None)
