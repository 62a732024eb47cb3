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
    severity = "CRITICAL"
    should_alert = True
    http_status = 502

    def __init__(self, message: str, code: int | None = None, reason: str = "server_error"):
        super().__init__(message)
        self.code = code
        self.reason = reason  # one of telemetry.metrics.FALLBACK_REASONS


class GeminiRateLimitError(GeminiAPIError):
    severity = "WARNING"

    def __init__(self, message: str, code: int | None = 429):
        super().__init__(message, code, reason="rate_limited")


class GeminiTimeoutError(GeminiAPIError):
    severity = "ERROR"

    def __init__(self, message: str):
        super().__init__(message, None, reason="timeout")


class TokenLimitExceededError(GeminiAPIError):
    severity = "WARNING"

    def __init__(self, message: str):
        super().__init__(message, None, reason="client_error")


class InvalidLLMResponseError(GeminiAPIError):
    """The answer could not be parsed or validated, even after repair."""
    severity = "WARNING"

    def __init__(self, message: str, reason: str = "invalid_json"):
        super().__init__(message, None, reason=reason)


class InternalError(AIAssistError):
    severity = "CRITICAL"
    should_alert = True
