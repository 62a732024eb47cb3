"""The metric catalogue: every metric the service exposes is defined here, once.

Dashboards and alert rules import the names below; tests fail when a query names a
metric that is not in CATALOGUE. Label values are closed sets (also below) and every
combination is created at start-up, so a series reads 0 rather than "No data" before
its first event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from ai_assist.experiments.definition import MAX_VARIANTS, VARIANT_NONE
from ai_assist.frameworks import FRAMEWORKS
from ai_assist.telemetry.traffic import SOURCES, is_synthetic

# --- closed label sets -------------------------------------------------------------
# cancelled: the client went away before its answer; the work was cancelled, nobody
# was answered, so it is not among ANSWERED_STATUSES.
REQUEST_STATUSES = ("success", "fallback", "error", "rejected", "cancelled")
ANSWERED_STATUSES = ("success", "fallback", "error")  # reached the pipeline and answered
STAGES = ("embedding", "vector_search", "llm", "json_parsing")
REJECT_REASONS = (
    "empty_text", "text_too_long", "unknown_framework", "top_k_out_of_range",
    "invalid_json", "invalid_request", "unsupported_media_type", "body_too_large",
    "rate_limited",
    # the body decodes to JSON nested deeper than the limit, holds a number literal longer
    # than the limit, or a string that is not valid Unicode (a lone surrogate escape)
    "json_too_deep", "number_too_large", "invalid_unicode",
    "unauthorized",  # API keys are configured and the request carries no valid one
    "unknown_variant",  # X-Experiment-Variant names no variant of the running experiment
    # X-Experiment-Variant sent without a QA credential (the admin key or a QA key name)
    "variant_forcing_forbidden",
    # the request line and headers together exceed AI_ASSIST_MAX_HEADER_BYTES (431)
    "headers_too_large",
)
MATCH_RESULTS = ("matched", "unmatched")
JSON_PARSE_RESULTS = ("valid", "repaired", "failed")
FALLBACK_REASONS = (
    "llm_disabled", "rate_limited", "server_error", "timeout", "connection_error",
    "client_error", "invalid_json", "empty_answer", "truncated", "no_valid_match",
    "unexpected_error", "deadline_exceeded", "circuit_open", "overloaded",
)
# input: prompt tokens billed at the input price; cached_input: prompt tokens Gemini served
# from its context cache (usage_metadata.cached_content_token_count, billed at the cached
# price); input + cached_input = the prompt.
TOKEN_TYPES = ("input", "output", "thinking", "cached_input")
GEMINI_OUTCOMES = (
    "ok", "rate_limited", "server_error", "client_error", "timeout", "connection_error",
    "unexpected_error", "cancelled",
)
RETRY_REASONS = (
    "rate_limited", "server_error", "timeout", "connection_error", "invalid_json",
    "empty_answer", "truncated", "no_valid_match", "unexpected_error",
)
WASTE_REASONS = ("invalid_json", "empty_answer", "truncated", "no_valid_match")
CIRCUIT_STATES = ("closed", "half_open", "open")  # gauge values 0, 1, 2
# why a request of a running experiment is left out of the per-variant comparison:
# forced (X-Experiment-Variant, QA only) or cached (a response-cache hit)
EXCLUDED_REASONS = ("forced", "cached")
# failed attempts on the admin endpoint: refused (401, no or a wrong key) or locked_out
# (429: this address failed too often in the last minute; the key was not even checked)
ADMIN_AUTH_FAILURES = ("refused", "locked_out")
ERROR_TYPES = (
    "EmbeddingError", "VectorStoreError", "GeminiAPIError", "GeminiTimeoutError",
    "GeminiRateLimitError", "TokenLimitExceededError", "InvalidLLMResponseError",
    "QueueFullError", "InternalError", "DeadlineExceededError", "GeminiCircuitOpenError",
    "LLMOverloadedError",
)
SEVERITIES = ("WARNING", "ERROR", "CRITICAL")
HEALTH_COMPONENTS = ("embedding_model", "chroma_db", "gemini_api", "gpu")

# --- buckets: every threshold of the plan's tables is a bucket boundary ------------
REQUEST_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120)
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 45, 60, 90)
RATIO_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30)

# --- names -------------------------------------------------------------------------
REQUESTS_TOTAL = "esg_mapping_requests_total"
REJECTED_REQUESTS_TOTAL = "esg_mapping_rejected_requests_total"
REQUEST_DURATION = "esg_mapping_request_duration_seconds"
STAGE_DURATION = "esg_mapping_duration_seconds"
IN_PROGRESS = "esg_mapping_in_progress"
FRAMEWORK_REQUESTS_TOTAL = "esg_mapping_framework_requests_total"
MATCHES_TOTAL = "esg_mapping_matches_total"
MATCH_RESULTS_TOTAL = "esg_mapping_match_results_total"
CONFIDENCE = "esg_mapping_confidence_ratio"
JSON_PARSE_TOTAL = "esg_mapping_json_parse_total"
FALLBACKS_TOTAL = "esg_mapping_fallbacks_total"
ERRORS_TOTAL = "esg_mapping_errors_total"
DUPLICATE_REQUESTS_TOTAL = "esg_mapping_duplicate_requests_total"
VECTOR_SIMILARITY = "esg_vector_search_top_similarity_ratio"
EMBEDDING_BATCH_SIZE = "esg_embedding_batch_size"
EMBEDDING_QUEUE_DEPTH = "esg_embedding_queue_depth"
GEMINI_TOKENS_TOTAL = "gemini_tokens_used_total"
GEMINI_CALLS_TOTAL = "gemini_api_calls_total"
GEMINI_RETRIES_TOTAL = "gemini_api_retries_total"
GEMINI_RETRIES_DENIED_TOTAL = "gemini_api_retries_denied_total"
GEMINI_WASTED_TOKENS_TOTAL = "gemini_tokens_wasted_total"
GEMINI_IN_FLIGHT = "gemini_api_in_flight"
GEMINI_CONCURRENCY_WAIT = "gemini_api_concurrency_wait_seconds"
CIRCUIT_STATE = "gemini_circuit_breaker_state"
CIRCUIT_TRANSITIONS_TOTAL = "gemini_circuit_breaker_transitions_total"
HEALTH_STATUS = "ai_assist_health_status"
BUILD_INFO = "ai_assist_build_info"
CATALOGUE_DISCLOSURES = "ai_assist_catalogue_disclosures"
GPU_DEVICES = "ai_assist_gpu_devices"
GPU_UTILIZATION = "ai_assist_gpu_utilization_ratio"
GPU_MEMORY_USED = "ai_assist_gpu_memory_used_bytes"
GPU_MEMORY_TOTAL = "ai_assist_gpu_memory_total_bytes"
GPU_SAMPLE_ERRORS_TOTAL = "ai_assist_gpu_sample_errors_total"
RATE_LIMIT_STORAGE_ERRORS_TOTAL = "ai_assist_rate_limit_storage_errors_total"
# the response cache (ai_assist/mapping/cache.py)
CACHE_LOOKUPS_TOTAL = "esg_mapping_cache_lookups_total"
CACHE_EVICTIONS_TOTAL = "esg_mapping_cache_evictions_total"
CACHE_TOKENS_SAVED_TOTAL = "esg_mapping_cache_tokens_saved_total"
CACHE_ERRORS_TOTAL = "esg_mapping_cache_errors_total"
CACHE_LOOKUP_RESULTS = ("hit", "miss")
CACHE_OPERATIONS = ("get", "set")
PROFILING_OUTAGES_TOTAL = "ai_assist_profiling_server_outages_total"
ADMIN_AUTH_FAILURES_TOTAL = "ai_assist_admin_auth_failures_total"
# A/B experiments (ai_assist/experiments): the `variant` label below, the squares the
# report's Welch tests need (summed across replicas like any counter), the running split.
CONFIDENCE_SQUARES_TOTAL = "esg_mapping_confidence_squares_total"
REQUEST_TOKENS_TOTAL = "esg_mapping_request_tokens_total"
REQUEST_TOKENS_SQUARES_TOTAL = "esg_mapping_request_tokens_squares_total"
EXPERIMENT_VARIANT_WEIGHT = "ai_assist_experiment_variant_weight_ratio"
EXPERIMENT_EXCLUDED_TOTAL = "esg_experiment_excluded_requests_total"
# the golden-set canary (ai_assist/canary/)
CANARY_CHECKS_TOTAL = "esg_canary_checks_total"
CANARY_HITS_TOTAL = "esg_canary_hits_total"
CANARY_HIT_RATIO = "esg_canary_hit_ratio"
CANARY_LAST_RUN = "esg_canary_last_run_timestamp_seconds"
CANARY_LANGUAGES = ("en", "ko")
# `variant`: the running experiment's variant that a request was assigned to; "none" when
# no experiment runs, for requests refused before assignment, and for requests left out
# of the comparison (forced by a QA credential, or served from the response cache: see
# EXPERIMENT_EXCLUDED_TOTAL, whose own `variant` names the variant that served them). At
# most MAX_VARIANTS + 1 values, all known at start-up from AI_ASSIST_EXPERIMENT_FILE.
VARIANT = "variant"


@dataclass(frozen=True)
class MetricDef:
    name: str
    kind: str  # counter | gauge | histogram
    help: str
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    buckets: tuple[float, ...] = ()

    @property
    def series_names(self) -> tuple[str, ...]:
        """The names that appear on /metrics and in PromQL."""
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


CATALOGUE: tuple[MetricDef, ...] = (
    MetricDef(REQUESTS_TOTAL, "counter",
              "ESG mapping requests by outcome: success (answered by the LLM), fallback "
              "(answered by the embedding-only ranking), error (no answer, 5xx), rejected "
              "(bad input or rate limit, 4xx).",
              {"status": REQUEST_STATUSES, VARIANT: ()}),
    MetricDef(REJECTED_REQUESTS_TOTAL, "counter",
              "Requests refused before the pipeline, by reason.", {"reason": REJECT_REASONS}),
    MetricDef(REQUEST_DURATION, "histogram",
              "End-to-end time of a mapping request that reached the pipeline.",
              {"status": ANSWERED_STATUSES, VARIANT: ()}, REQUEST_BUCKETS),
    MetricDef(STAGE_DURATION, "histogram",
              "Time spent in one pipeline stage (the LLM stage includes its retries).",
              {"stage": STAGES}, STAGE_BUCKETS),
    MetricDef(IN_PROGRESS, "gauge", "Mapping requests being processed now."),
    MetricDef(FRAMEWORK_REQUESTS_TOTAL, "counter",
              "Mapping requests that asked for a framework (one request may ask for several).",
              {"framework": FRAMEWORKS}),
    MetricDef(MATCHES_TOTAL, "counter",
              "Disclosures returned in answers, by framework.", {"framework": FRAMEWORKS}),
    MetricDef(MATCH_RESULTS_TOTAL, "counter",
              "Answered requests by match result. Match success: the answer holds at least "
              "one disclosure with confidence >= 0.6 (the plan's critical confidence level).",
              {"result": MATCH_RESULTS, VARIANT: ()}),
    MetricDef(CONFIDENCE, "histogram",
              "Average confidence (0..1) of the matches of one answered request.",
              {VARIANT: ()}, RATIO_BUCKETS),
    MetricDef(JSON_PARSE_TOTAL, "counter",
              "LLM answers by JSON parse result: valid as returned, repaired (code fences, "
              "trailing commas, quotes, truncation), or failed.",
              {"result": JSON_PARSE_RESULTS}),
    MetricDef(FALLBACKS_TOTAL, "counter",
              "Requests answered by the embedding-only fallback, by the reason the LLM "
              "answer was not used.", {"reason": FALLBACK_REASONS}),
    MetricDef(ERRORS_TOTAL, "counter",
              "Errors by class and severity (the plan's error classes).",
              {"error_type": ERROR_TYPES, "severity": SEVERITIES}),
    MetricDef(DUPLICATE_REQUESTS_TOTAL, "counter",
              "Requests whose text was already mapped recently (the cache's potential)."),
    MetricDef(VECTOR_SIMILARITY, "histogram",
              "Cosine similarity of the best vector-search candidate of a request.",
              {}, RATIO_BUCKETS),
    MetricDef(EMBEDDING_BATCH_SIZE, "histogram",
              "Texts embedded together in one micro-batch.", {}, BATCH_BUCKETS),
    MetricDef(EMBEDDING_QUEUE_DEPTH, "gauge",
              "Texts waiting for the embedding model: the autoscaling signal."),
    MetricDef(GEMINI_TOKENS_TOTAL, "counter",
              "Gemini tokens billed, from usage_metadata: input (prompt tokens not served "
              "from Gemini's context cache), cached_input (prompt tokens served from it, "
              "billed at the cached price), output (candidates) and thinking (billed at "
              "the output price). source: user (requests) or canary (the golden-set "
              "canary's synthetic requests).",
              {"type": TOKEN_TYPES, "model": (), VARIANT: (), "source": SOURCES}),
    MetricDef(GEMINI_IN_FLIGHT, "gauge",
              "Gemini generateContent calls in flight now; never above "
              "AI_ASSIST_LLM_MAX_CONCURRENCY."),
    MetricDef(GEMINI_CONCURRENCY_WAIT, "histogram",
              "Time a Gemini call waited for a free slot under AI_ASSIST_LLM_MAX_CONCURRENCY "
              "(observed for every call that asked, including those whose request deadline "
              "ran out while waiting: fallback reason overloaded).", {}, WAIT_BUCKETS),
    MetricDef(CIRCUIT_STATE, "gauge",
              "State of the circuit breaker on Gemini: 0 closed (calls flow), 1 half-open "
              "(one probe call allowed), 2 open (no calls; requests answered by the fallback "
              "with reason circuit_open)."),
    MetricDef(CIRCUIT_TRANSITIONS_TOTAL, "counter",
              "Circuit breaker state changes, by the state entered.",
              {"state": CIRCUIT_STATES}),
    MetricDef(GEMINI_CALLS_TOTAL, "counter",
              "Gemini generateContent calls (every attempt, retries included), by outcome.",
              {"outcome": GEMINI_OUTCOMES, "model": ()}),
    MetricDef(GEMINI_RETRIES_TOTAL, "counter",
              "Gemini calls repeated after a failed attempt, by the failure.",
              {"reason": RETRY_REASONS}),
    MetricDef(GEMINI_RETRIES_DENIED_TOTAL, "counter",
              "Unusable Gemini answers (invalid JSON after repair, empty, truncated, no "
              "valid match) that were not retried because the retry budget "
              "(AI_ASSIST_LLM_UNUSABLE_RETRY_BUDGET) was spent: the request got the "
              "fallback after one call. A Gemini that answers garbage costs about one "
              "call per request once this moves.", {"reason": WASTE_REASONS}),
    MetricDef(GEMINI_WASTED_TOKENS_TOTAL, "counter",
              "Tokens billed for Gemini answers that were thrown away (unparseable or "
              "empty). Token efficiency = 1 - wasted / used.", {"reason": WASTE_REASONS}),
    MetricDef(HEALTH_STATUS, "gauge",
              "1 when a component passes its health check, 0 when it fails.",
              {"component": HEALTH_COMPONENTS}),
    MetricDef(BUILD_INFO, "gauge", "Always 1; labels name the running build and models.",
              {"version": (), "embedding_model": (), "llm_model": (), "device": ()}),
    MetricDef(CATALOGUE_DISCLOSURES, "gauge",
              "Disclosures indexed in the vector store, by framework.", {"framework": FRAMEWORKS}),
    MetricDef(GPU_DEVICES, "gauge", "GPUs the service sees (0 on a CPU host)."),
    MetricDef(GPU_UTILIZATION, "gauge", "GPU utilization (0..1), by device index.",
              {"gpu": ()}),
    MetricDef(GPU_MEMORY_USED, "gauge", "GPU memory in use, by device index.", {"gpu": ()}),
    MetricDef(GPU_MEMORY_TOTAL, "gauge", "GPU memory installed, by device index.", {"gpu": ()}),
    MetricDef(GPU_SAMPLE_ERRORS_TOTAL, "counter",
              "NVML calls of the GPU sampler that failed (the sampler logs each kind of "
              "error once and keeps sampling)."),
    MetricDef(CACHE_LOOKUPS_TOTAL, "counter",
              "Response-cache lookups (AI_ASSIST_CACHE_ENABLED): hit (answered from the "
              "cache, no embedding, search or Gemini call) or miss (the pipeline ran; its "
              "answer is stored when it came from the LLM).",
              {"result": CACHE_LOOKUP_RESULTS}),
    MetricDef(CACHE_EVICTIONS_TOTAL, "counter",
              "Entries the in-process response cache dropped to stay within "
              "AI_ASSIST_CACHE_MAX_ENTRIES (least recently used first). A Redis cache "
              "evicts by its own maxmemory policy: see Redis's INFO evicted_keys."),
    MetricDef(CACHE_TOKENS_SAVED_TOTAL, "counter",
              "Gemini tokens that cache hits did not spend: what each served answer had "
              "been billed when the LLM made it, by token type and the model that made "
              "it.", {"type": TOKEN_TYPES, "model": ()}),
    MetricDef(CACHE_ERRORS_TOTAL, "counter",
              "Response-cache operations that failed (Redis unreachable or slow); a failed "
              "get is served by the pipeline as a miss (the cache fails open).",
              {"operation": CACHE_OPERATIONS}),
    MetricDef(RATE_LIMIT_STORAGE_ERRORS_TOTAL, "counter",
              "Rate-limit checks that could not reach the shared storage (Redis); each "
              "such request was let through (the limiter fails open)."),
    MetricDef(PROFILING_OUTAGES_TOTAL, "counter",
              "Times the Pyroscope server stopped answering the continuous profiler's "
              "probe (AI_ASSIST_PROFILING_ENABLED); profiles of an outage are dropped, each "
              "outage is logged once."),
    MetricDef(ADMIN_AUTH_FAILURES_TOTAL, "counter",
              "Failed attempts on the admin endpoint (POST /admin/profile): refused (401, "
              "no key or a wrong one) or locked_out (429: the address failed too often in "
              "the last minute, so the key was not checked).",
              {"outcome": ADMIN_AUTH_FAILURES}),
    MetricDef(CONFIDENCE_SQUARES_TOTAL, "counter",
              f"Sum of the squares of the values observed by {CONFIDENCE} (with its _sum "
              "and _count: the variance of a variant's confidence for Welch's t-test).",
              {VARIANT: ()}),
    MetricDef(REQUEST_TOKENS_TOTAL, "counter",
              "Gemini tokens billed (all types, every call and retry) summed over the "
              "requests that reached the pipeline and were answered (status success, "
              "fallback or error): divided by those requests, tokens per request.",
              {VARIANT: ()}),
    MetricDef(REQUEST_TOKENS_SQUARES_TOTAL, "counter",
              f"Sum of the squares of each request's tokens as counted in "
              f"{REQUEST_TOKENS_TOTAL} (Welch's t-test on tokens per request).",
              {VARIANT: ()}),
    MetricDef(EXPERIMENT_VARIANT_WEIGHT, "gauge",
              "The running A/B experiment: one series per variant, its configured share "
              f"of the traffic (0..1); absent when none runs. At most {MAX_VARIANTS} "
              "variants.", {"experiment": (), VARIANT: ()}),
    MetricDef(EXPERIMENT_EXCLUDED_TOTAL, "counter",
              "Requests of the running A/B experiment left out of the per-variant "
              "comparison, by the variant that served them and why: forced (the "
              "X-Experiment-Variant header, QA credentials only) or cached (a response-"
              "cache hit repeats an answer the variant already made, at no token cost). "
              "Their request metrics carry variant=\"none\"; the A/B report counts "
              "them, and adds the cached ones back into the sample-ratio check.",
              {"reason": EXCLUDED_REASONS, VARIANT: ()}),
    MetricDef(CANARY_CHECKS_TOTAL, "counter",
              "Golden-set passages the canary (AI_ASSIST_CANARY_INTERVAL_S) mapped through "
              "the live pipeline, by the passage's language.",
              {"language": CANARY_LANGUAGES}),
    MetricDef(CANARY_HITS_TOTAL, "counter",
              "Canary checks whose answer held one of the passage's correct disclosures "
              "(an error or an answer without them is a miss). Hit rate = hits / checks.",
              {"language": CANARY_LANGUAGES}),
    MetricDef(CANARY_HIT_RATIO, "gauge",
              "Hit rate (0..1) of the canary's last run over the golden set, by language; "
              "absent until the first run.", {"language": ()}),
    MetricDef(CANARY_LAST_RUN, "gauge",
              "Unix time the canary's last run over the golden set finished; absent until "
              "the first run."),
)

# Metrics of user traffic alone: the canary's synthetic requests run the same pipeline
# but leave these untouched (the SLIs, rate limits, match and confidence figures and the
# duplicate counter describe users). Gemini's calls, tokens (label source), breaker and
# the embedding queue count them: they spend the same quota and capacity.
USER_TRAFFIC_ONLY = frozenset({
    REQUESTS_TOTAL, REJECTED_REQUESTS_TOTAL, REQUEST_DURATION, STAGE_DURATION,
    FRAMEWORK_REQUESTS_TOTAL, MATCHES_TOTAL, MATCH_RESULTS_TOTAL, CONFIDENCE,
    JSON_PARSE_TOTAL, FALLBACKS_TOTAL, ERRORS_TOTAL, DUPLICATE_REQUESTS_TOTAL,
    VECTOR_SIMILARITY, CACHE_LOOKUPS_TOTAL, CACHE_TOKENS_SAVED_TOTAL,
    CONFIDENCE_SQUARES_TOTAL, REQUEST_TOKENS_TOTAL, REQUEST_TOKENS_SQUARES_TOTAL,
    EXPERIMENT_EXCLUDED_TOTAL,
})

BY_NAME: dict[str, MetricDef] = {m.name: m for m in CATALOGUE}

# What one replica may expose (TSDB series, every sample name of every label set), with
# the most variants an experiment may have and every priced model: the cost of a replica
# to Prometheus, which times the replicas and the scrape interval sizes it (docs/operations/at-scale.md, At
# scale). tests/service/test_service_metrics.py counts a live replica's /metrics against
# it.
SERIES_PER_REPLICA_BUDGET = 1000
# prometheus_client exposes a `<name>_created` gauge beside every counter and histogram
# child: as many series again, which no rule or panel reads.
disable_created_metrics()


def series_per_replica(m: MetricDef, known: dict[str, tuple[str, ...]]) -> int:
    """The series one replica exposes for `m`: one per label set (open labels take the
    values in `known`; those known only later, a GPU's index, count as one), times the
    samples of its kind: one for a counter or a gauge (no `_created`: turned off above),
    each bucket, `+Inf`, `_sum` and `_count` of a histogram."""
    sets = 1
    for label, values in m.labels.items():
        sets *= max(len(values or known.get(label, ())), 1)
    per_set = {"counter": 1, "gauge": 1, "histogram": len(m.buckets) + 3}[m.kind]
    return sets * per_set


def exposed_series_names() -> set[str]:
    return {s for m in CATALOGUE for s in m.series_names}


def _base_name(name: str) -> str:
    return name[: -len("_total")] if name.endswith("_total") else name


class _NotRecorded:
    """Stands in for every metric when metrics are off: the hot path calls the same
    methods (labels, inc, observe, ...) and nothing is counted, locked or stored."""

    def labels(self, *args, **kwargs) -> "_NotRecorded":
        return self

    def _nothing(self, *args, **kwargs) -> None:
        return None

    def __getattr__(self, name: str):  # inc, dec, set, observe, set_function, ...
        return self._nothing


NOT_RECORDED = _NotRecorded()


class _UserTrafficOnly(dict):
    """The metric objects by name; within a synthetic request (telemetry/traffic.py) the
    USER_TRAFFIC_ONLY ones read as NOT_RECORDED, so no call site needs its own check."""

    def __getitem__(self, name: str):
        if name in USER_TRAFFIC_ONLY and is_synthetic():
            return NOT_RECORDED
        return super().__getitem__(name)


class Metrics:
    """The live metric objects, bound to one registry (one per app instance)."""

    def __init__(self, registry: CollectorRegistry | None = None, model: str = "",
                 variants: tuple[str, ...] = (VARIANT_NONE,),
                 models: tuple[str, ...] = (), recording: bool = True) -> None:
        self.registry = registry or CollectorRegistry()
        self.recording = recording
        self._objects: dict[str, Counter | Gauge | Histogram] = _UserTrafficOnly()
        if not recording:  # AI_ASSIST_METRICS_ENABLED=false: nothing registered or recorded
            self._objects = {m.name: NOT_RECORDED for m in CATALOGUE}
            return
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        for m in CATALOGUE:
            self._objects[m.name] = self._create(m)
        # open labels whose values are known at start: the models and the variants
        self._known = {"model": tuple(dict.fromkeys((model, *models))) if model else (),
                       VARIANT: tuple(dict.fromkeys((VARIANT_NONE, *variants)))}
        self._initialise_children()

    @property
    def known(self) -> dict[str, tuple[str, ...]]:
        """The open labels' values known at start (models, variants)."""
        return dict(self._known) if self.recording else {}

    def _create(self, m: MetricDef):
        labels = list(m.labels)
        if m.kind == "counter":
            return Counter(_base_name(m.name), m.help, labels, registry=self.registry)
        if m.kind == "gauge":
            return Gauge(m.name, m.help, labels, registry=self.registry)
        return Histogram(m.name, m.help, labels, registry=self.registry, buckets=m.buckets)

    def _initialise_children(self) -> None:
        for m in CATALOGUE:
            if not m.labels:
                continue
            values = [vals if vals else self._known.get(name, ())
                      for name, vals in m.labels.items()]
            if any(not v for v in values):
                continue  # open labels (gpu index, build info) appear when known
            for combo in product(*values):
                self._objects[m.name].labels(*combo)

    def __getitem__(self, name: str):
        return self._objects[name]

    # Short, typed accessors for the hot paths.
    @property
    def requests(self) -> Counter: return self._objects[REQUESTS_TOTAL]
    @property
    def rejected(self) -> Counter: return self._objects[REJECTED_REQUESTS_TOTAL]
    @property
    def request_duration(self) -> Histogram: return self._objects[REQUEST_DURATION]
    @property
    def stage_duration(self) -> Histogram: return self._objects[STAGE_DURATION]
    @property
    def in_progress(self) -> Gauge: return self._objects[IN_PROGRESS]
    @property
    def framework_requests(self) -> Counter: return self._objects[FRAMEWORK_REQUESTS_TOTAL]
    @property
    def matches(self) -> Counter: return self._objects[MATCHES_TOTAL]
    @property
    def match_results(self) -> Counter: return self._objects[MATCH_RESULTS_TOTAL]
    @property
    def confidence(self) -> Histogram: return self._objects[CONFIDENCE]
    @property
    def json_parse(self) -> Counter: return self._objects[JSON_PARSE_TOTAL]
    @property
    def fallbacks(self) -> Counter: return self._objects[FALLBACKS_TOTAL]
    @property
    def errors(self) -> Counter: return self._objects[ERRORS_TOTAL]
    @property
    def duplicates(self) -> Counter: return self._objects[DUPLICATE_REQUESTS_TOTAL]
    @property
    def similarity(self) -> Histogram: return self._objects[VECTOR_SIMILARITY]
    @property
    def batch_size(self) -> Histogram: return self._objects[EMBEDDING_BATCH_SIZE]
    @property
    def queue_depth(self) -> Gauge: return self._objects[EMBEDDING_QUEUE_DEPTH]
    @property
    def tokens(self) -> Counter: return self._objects[GEMINI_TOKENS_TOTAL]
    @property
    def gemini_calls(self) -> Counter: return self._objects[GEMINI_CALLS_TOTAL]
    @property
    def gemini_retries(self) -> Counter: return self._objects[GEMINI_RETRIES_TOTAL]
    @property
    def gemini_retries_denied(self) -> Counter:
        return self._objects[GEMINI_RETRIES_DENIED_TOTAL]
    @property
    def wasted_tokens(self) -> Counter: return self._objects[GEMINI_WASTED_TOKENS_TOTAL]
    @property
    def gemini_in_flight(self) -> Gauge: return self._objects[GEMINI_IN_FLIGHT]
    @property
    def gemini_wait(self) -> Histogram: return self._objects[GEMINI_CONCURRENCY_WAIT]
    @property
    def circuit_state(self) -> Gauge: return self._objects[CIRCUIT_STATE]
    @property
    def circuit_transitions(self) -> Counter: return self._objects[CIRCUIT_TRANSITIONS_TOTAL]
    @property
    def health(self) -> Gauge: return self._objects[HEALTH_STATUS]
    @property
    def build_info(self) -> Gauge: return self._objects[BUILD_INFO]
    @property
    def catalogue_size(self) -> Gauge: return self._objects[CATALOGUE_DISCLOSURES]
    @property
    def gpu_devices(self) -> Gauge: return self._objects[GPU_DEVICES]
    @property
    def gpu_utilization(self) -> Gauge: return self._objects[GPU_UTILIZATION]
    @property
    def gpu_memory_used(self) -> Gauge: return self._objects[GPU_MEMORY_USED]
    @property
    def gpu_memory_total(self) -> Gauge: return self._objects[GPU_MEMORY_TOTAL]
    @property
    def gpu_sample_errors(self) -> Counter: return self._objects[GPU_SAMPLE_ERRORS_TOTAL]
    @property
    def cache_lookups(self) -> Counter: return self._objects[CACHE_LOOKUPS_TOTAL]
    @property
    def cache_evictions(self) -> Counter: return self._objects[CACHE_EVICTIONS_TOTAL]
    @property
    def cache_tokens_saved(self) -> Counter: return self._objects[CACHE_TOKENS_SAVED_TOTAL]
    @property
    def cache_errors(self) -> Counter: return self._objects[CACHE_ERRORS_TOTAL]
    @property
    def rate_limit_storage_errors(self) -> Counter:
        return self._objects[RATE_LIMIT_STORAGE_ERRORS_TOTAL]
    @property
    def confidence_squares(self) -> Counter: return self._objects[CONFIDENCE_SQUARES_TOTAL]
    @property
    def request_tokens(self) -> Counter: return self._objects[REQUEST_TOKENS_TOTAL]
    @property
    def request_tokens_squares(self) -> Counter:
        return self._objects[REQUEST_TOKENS_SQUARES_TOTAL]
    @property
    def experiment_weight(self) -> Gauge: return self._objects[EXPERIMENT_VARIANT_WEIGHT]
    @property
    def experiment_excluded(self) -> Counter: return self._objects[EXPERIMENT_EXCLUDED_TOTAL]
    @property
    def admin_auth_failures(self) -> Counter: return self._objects[ADMIN_AUTH_FAILURES_TOTAL]
    @property
    def canary_checks(self) -> Counter: return self._objects[CANARY_CHECKS_TOTAL]
    @property
    def canary_hits(self) -> Counter: return self._objects[CANARY_HITS_TOTAL]
    @property
    def canary_hit_ratio(self) -> Gauge: return self._objects[CANARY_HIT_RATIO]
    @property
    def canary_last_run(self) -> Gauge: return self._objects[CANARY_LAST_RUN]
