"""The plan's error classes (2.2): each carries a severity and whether it should alert.

Every raised AIAssistError is counted in esg_mapping_errors_total{error_type,severity}
and logged with its stack trace. error_type is the class name; the closed set lives in
telemetry.metrics.ERROR_TYPES, and a test keeps the two in step.
"""

from __future__ import annotations


class AIAssistError(Exception):
    severity: str = "ERROR"
    should_alert: bool = False
    http_status: int = 500

    @property
    def error_type(self) -> str:
        return type(self).__name__


class EmbeddingError(AIAssistError):
    severity = "CRITICAL"
    should_alert = True
    http_status = 503


class VectorStoreError(AIAssistError):
    severity = "CRITICAL"
    should_alert = True
    http_status = 503


class QueueFullError(AIAssistError):
    """The embedding queue is full: the service is overloaded (answered 503)."""
    severity = "WARNING"
    http_status = 503


class GeminiAPIError(AIAssistError):
    """A Gemini call failed; `.reason` (one of telemetry.metrics.FALLBACK_REASONS) names
    the fallback. Each subclass sets its own `reason`; an instance may override it."""
    severity = "CRITICAL"
    should_alert = True
    http_status = 502
    reason: str = "server_error"

    def __init__(self, message: str, code: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.code = code
        if reason is not None:
            self.reason = reason


class GeminiRateLimitError(GeminiAPIError):
    severity = "WARNING"
    reason = "rate_limited"

    def __init__(self, message: str, code: int | None = 429):
        super().__init__(message, code)


class GeminiTimeoutError(GeminiAPIError):
    severity = "ERROR"
    reason = "timeout"


class TokenLimitExceededError(GeminiAPIError):
    """The answer was cut off at max_output_tokens and nothing usable survived repair."""
    severity = "WARNING"
    reason = "truncated"


class InvalidLLMResponseError(GeminiAPIError):
    """The answer could not be parsed or validated, even after repair."""
    severity = "WARNING"
    reason = "invalid_json"


class DeadlineExceededError(GeminiAPIError):
    """The request deadline cut a Gemini call short or left no time for one."""
    severity = "ERROR"
    reason = "deadline_exceeded"


class GeminiCircuitOpenError(GeminiAPIError):
    """The circuit breaker is open: Gemini was not called at all."""
    severity = "WARNING"
    reason = "circuit_open"


class LLMOverloadedError(GeminiAPIError):
    """Every Gemini slot (AI_ASSIST_LLM_MAX_CONCURRENCY) stayed busy until the deadline."""
    severity = "WARNING"
    reason = "overloaded"


class InternalError(AIAssistError):
    severity = "CRITICAL"
    should_alert = True
