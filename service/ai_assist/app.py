"""The FastAPI application: the wiring of settings, the domain objects they name,
telemetry, the shared Redis and the service's parts into one app.

Where the rest is: ai_assist/composition.py loads and checks what the settings name;
ai_assist/lifecycle.py starts and stops the parts (model, index, pipeline);
ai_assist/routes/ holds the routes, ai_assist/openapi_docs.py what the OpenAPI document
says about them, ai_assist/http_errors.py the error answers and the middleware's
callbacks (telemetry/middleware.py)."""

from __future__ import annotations

import threading

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from ai_assist import admin_profile, lifecycle, openapi_docs
from ai_assist.composition import Domain, compose
from ai_assist.config import Settings
from ai_assist.health import HealthChecker
from ai_assist.http_errors import RequestCounting, install_error_handlers
from ai_assist.lifecycle import ServiceState
from ai_assist.ratelimit import RateLimiter
from ai_assist.routes.mapping import MapRoute
from ai_assist.routes.probes import add_probes
from ai_assist.shared_store import SharedStore
from ai_assist.telemetry import profiling, tracing
from ai_assist.telemetry.logging import configure_logging
from ai_assist.telemetry.metrics import Metrics
from ai_assist.telemetry.middleware import RequestContextMiddleware

def create_app(settings: Settings | None = None, *, domain: Domain | None = None,
               registry: CollectorRegistry | None = None, span_processors: tuple = (),
               log_stream=None) -> FastAPI:
    """The app for `domain` (else for `settings`, else the environment's, composed here)."""
    domain = domain or compose(settings or Settings.from_env())
    settings = domain.settings
    configure_logging(settings.log_level, settings.log_format, settings.environment,
                      settings.version, stream=log_stream)
    provider = tracing.build_tracer_provider(
        settings.tracing_enabled, settings.otlp_endpoint, settings.environment,
        settings.version, tuple(span_processors) + profiling.span_processors(settings),
        sample_ratio=settings.tracing_sample_ratio)
    previous_provider = tracing.install(provider)
    state = _state(domain, registry)
    checker = HealthChecker(state)
    app = FastAPI(lifespan=lifecycle.lifespan(
        state, checker, domain.golden_set, profiling.ContinuousProfiler(settings,
                                                                        state.metrics),
        provider, previous_provider), **openapi_docs.app_info(settings.version))
    app.state.service = state
    # set by the server when it starts shutting down (ai_assist/__main__.py): work that
    # could outlast the graceful shutdown (an on-demand profile) ends early
    app.state.shutting_down = threading.Event()
    counting = RequestCounting(state.metrics)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes,
                       max_header_bytes=settings.max_header_bytes,
                       on_unhandled=counting.unhandled, on_rejected=counting.rejected)
    if settings.trusted_proxies:  # X-Forwarded-For from these proxies names the client
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    install_error_handlers(app)
    MapRoute(state, domain.api_keys, counting).add_to(app)
    add_probes(app, state, checker)
    if domain.api_keys.enabled:
        openapi_docs.describe_api_keys(app)
    if settings.admin_api_key:  # POST /admin/profile, outside the OpenAPI document
        admin_profile.add_routes(app, settings, state.metrics, app.state.shutting_down)
    return app


def _state(domain: Domain, registry: CollectorRegistry | None) -> ServiceState:
    """The metrics (labelled for the experiment's variants and models), the shared Redis
    and the rate limiter on it, in the state the parts start from."""
    settings, experiment = domain.settings, domain.experiment
    variant_models = tuple(v.gemini_model for v in experiment.variants
                           if v.gemini_model) if experiment else ()
    metrics = Metrics(registry, model=settings.gemini_model,
                      variants=experiment.names if experiment else (),
                      models=variant_models, recording=settings.metrics_enabled)
    if experiment:
        for name, share in experiment.shares.items():
            metrics.experiment_weight.labels(experiment.name, name).set(share)
    shared = SharedStore(settings.redis_url) if settings.redis_url else None
    limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst, shared,
                          on_storage_error=metrics.rate_limit_storage_errors.inc)
    return ServiceState(settings, metrics, limiter, catalogue=domain.catalogue,
                        experiment=experiment, shared=shared)
