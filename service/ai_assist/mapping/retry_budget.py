"""The retry budget for unusable Gemini answers: pay for garbage at most once or twice.

An answer that arrives but cannot be used (no JSON after repair, empty, cut off, or JSON
naming no candidate) used to be retried like a transport failure, up to
AI_ASSIST_LLM_MAX_RETRIES times, and such answers never reach the circuit breaker (a
200 is not a sign of an unwell API). A Gemini that answers garbage for minutes then
cost 1 + max_retries billed calls per request. Counting them in the breaker instead
would let one client open it for everyone by sending off-topic passages (Gemini rightly
names no disclosure for them); a budget bounds the cost without refusing anyone a first
call.

The algorithm is gRPC's retry throttling (gRFC A6, `retryThrottling` in a service
config): a bucket of `max_tokens`; every unusable answer takes 1 token, every usable one
gives back `ratio` (0.1); an unusable answer may be retried only while more than half the
bucket is left. So a single bad answer among good ones is retried, and after about
max_tokens / 2 unusable answers in a row every request costs one call until good answers
refill the bucket (each is worth a tenth of a retry). No library implements it for
Python outside grpcio's channel internals; it is the few lines below, driven from one
event loop (no locks). One budget per Gemini model (its mapper) and replica.
"""

from __future__ import annotations

RATIO = 0.1  # tokens a usable answer gives back (gRPC's token_ratio)


class RetryBudget:
    def __init__(self, max_tokens: int, ratio: float = RATIO) -> None:
        self.max_tokens = float(max_tokens)  # 0: unusable answers are never retried
        self.ratio = ratio
        self.tokens = self.max_tokens

    def record(self, usable: bool) -> None:
        if usable:
            self.tokens = min(self.max_tokens, self.tokens + self.ratio)
        else:
            self.tokens = max(0.0, self.tokens - 1.0)

    def allows_retry(self) -> bool:
        return self.tokens > self.max_tokens / 2
