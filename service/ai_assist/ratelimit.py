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
The Redis connection pool, its timeouts and the fail-open guard (with its backoff: a
frozen Redis is not stormed with connections) are the ones the response cache uses too
(ai_assist/shared_store.py).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from ai_assist.shared_store import BACKEND, SharedStore
from ai_assist.telemetry.logging import get_logger

NAMESPACE = "ai_assist"
log = get_logger("ai_assist.ratelimit")


def limits_storage_uri(redis_url: str) -> str:
    """The `limits` async storage URI for a redis://, rediss:// or unix:// URL."""
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


class RateLimiter:
    def __init__(self, per_minute: int, burst: int, shared: SharedStore | None = None,
                 on_storage_error=None) -> None:
        self.shared = shared is not None
        on_storage_error = on_storage_error or (lambda: None)
        self._items = []
        if per_minute > 0:
            if burst < per_minute:
                window = max(1, math.ceil(60 * burst / per_minute))
                self._items.append(RateLimitItemPerSecond(burst, window))
            self._items.append(RateLimitItemPerMinute(per_minute))
        # redis-py on the shared pool (not limits' default coredis): one client library,
        # one set of connections and timeouts for the limiter and the cache
        storage: Storage = (storage_from_string(limits_storage_uri(shared.url),
                                                implementation="redispy",
                                                connection_pool=shared.pool)
                            if shared else MemoryStorage())
        self._limiter = MovingWindowRateLimiter(storage)
        # only a shared store can be down; memory never fails
        self._guard = shared.fail_open(
            lambda operation: on_storage_error(), down="rate_limit_storage_unavailable",
            recovered="rate_limit_storage_recovered", logger=log,
            action="requests are let through unlimited until it is back") if shared else None

    @property
    def enabled(self) -> bool:
        return bool(self._items)

    @property
    def backend(self) -> str:
        return BACKEND if self.shared else "memory (per replica)"

    async def acquire(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        if not self.enabled:
            return 0.0
        if self._guard is None:
            return await self._acquire(client)
        return await self._guard.call("acquire", lambda: self._acquire(client), 0.0)

    async def _acquire(self, client: str) -> float:
        for item in self._items:  # the short window first: a refusal there costs nothing
            if not await self._limiter.hit(item, NAMESPACE, client):
                stats = await self._limiter.get_window_stats(item, NAMESPACE, client)
                return max(0.001, stats.reset_time - time.time())
        return 0.0

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))
