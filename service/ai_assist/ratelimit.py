"""Per-client rate limits (the plan's rate-limiting should-have), with the `limits` library.

Two moving windows per client: `per_minute` requests a minute, and `burst` requests in a
window of 60 x burst / per_minute seconds, so a client cannot spend its whole minute at
once. The windows live in Redis when a Redis URL is set, shared by every replica (the
limit holds across them), else in this process's memory (per replica: N replicas allow
N times the limit).

When Redis cannot be reached, the limiter fails open: the request goes through, one
warning is logged when the outage starts (and an info line when it ends), and every
such request is counted in ai_assist_rate_limit_storage_errors_total. Refusing every
request because the limiter's store is down would turn a Redis outage into a full one.
After a failure the limiter leaves Redis alone for a growing backoff
(ai_assist/storage_backoff.py): requests meanwhile go through unchecked (and counted)
without a connection attempt, so a frozen Redis is not stormed with connections.
"""

from __future__ import annotations

import asyncio
import math
import time

from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.storage import storage_from_string
from limits.aio.strategies import MovingWindowRateLimiter

from ai_assist.storage_backoff import StoreBackoff
from ai_assist.telemetry.logging import get_logger

NAMESPACE = "ai_assist"
REDIS_TIMEOUT_S = 0.5  # connect and per-command timeout; the check as a whole gets 2x
log = get_logger("ai_assist.ratelimit")


def limits_storage_uri(redis_url: str) -> str:
    """The `limits` async storage URI for a redis://, rediss:// or unix:// URL."""
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


class RateLimiter:
    def __init__(self, per_minute: int, burst: int, redis_url: str = "",
                 on_storage_error=None) -> None:
        self.shared = bool(redis_url)
        self._on_storage_error = on_storage_error or (lambda: None)
        self._storage_down = False
        self._items = []
        if per_minute > 0:
            if burst < per_minute:
                window = max(1, math.ceil(60 * burst / per_minute))
                self._items.append(RateLimitItemPerSecond(burst, window))
            self._items.append(RateLimitItemPerMinute(per_minute))
        # redis-py (as the cache), not limits' default coredis: one client library, and
        # its connections retry nothing themselves (retry_on_timeout off), so a try is
        # one connection at most; StoreBackoff decides when to try again.
        storage: Storage = (storage_from_string(limits_storage_uri(redis_url),
                                                implementation="redispy",
                                                socket_connect_timeout=REDIS_TIMEOUT_S,
                                                socket_timeout=REDIS_TIMEOUT_S,
                                                retry_on_timeout=False)
                            if redis_url else MemoryStorage())
        self._limiter = MovingWindowRateLimiter(storage)
        # only a shared store can be down; memory never fails
        self._backoff = StoreBackoff() if redis_url else None

    @property
    def enabled(self) -> bool:
        return bool(self._items)

    @property
    def backend(self) -> str:
        return "redis (shared by every replica)" if self.shared else "memory (per replica)"

    async def acquire(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        if not self.enabled:
            return 0.0
        if self._backoff is not None and not self._backoff.may_try():
            self._on_storage_error()  # still backing off: fail open without a try
            return 0.0
        try:
            wait = await asyncio.wait_for(self._acquire(client), 2 * REDIS_TIMEOUT_S)
        except Exception as exc:  # the store is unreachable: fail open
            if self._backoff is not None:
                self._backoff.failed()
            self._on_storage_error()
            if not self._storage_down:
                self._storage_down = True
                log.warning("rate_limit_storage_unavailable", backend=self.backend,
                            error=f"{type(exc).__name__}: {exc}"[:300],
                            action="requests are let through unlimited until it is back")
            return 0.0
        if self._backoff is not None:
            self._backoff.succeeded()
        if self._storage_down:
            self._storage_down = False
            log.info("rate_limit_storage_recovered", backend=self.backend)
        return wait

    async def _acquire(self, client: str) -> float:
        for item in self._items:  # the short window first: a refusal there costs nothing
            if not await self._limiter.hit(item, NAMESPACE, client):
                stats = await self._limiter.get_window_stats(item, NAMESPACE, client)
                return max(0.001, stats.reset_time - time.time())
        return 0.0

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))
