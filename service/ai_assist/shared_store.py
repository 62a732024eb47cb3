"""The Redis that replicas share (AI_ASSIST_REDIS_URL): one connection pool, one timeout
policy and one fail-open guard, used by the rate limiter (ai_assist/ratelimit.py) and the
response cache (ai_assist/mapping/cache.py).

Timeouts: REDIS_TIMEOUT_S to connect and for each command (redis-py's connections retry
nothing themselves, retry_on_timeout off, so a try is one connection at most), and twice
that for a guarded call as a whole.

The guard: Redis failing must never fail a request, so each user's call goes through
`FailOpen.call`, which answers the user's fallback (let the request through; a cache
miss) when Redis fails or is being left alone. After a failure the whole store is left
alone for a growing backoff (ai_assist/storage_backoff.py), whoever made the call: a
frozen Redis gets one try every few seconds from this replica, not one per request per
user. Each user counts every call that failed open (its own metric) and logs one warning
when its outage starts and one info line when it ends, as before they shared a guard.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, TypeVar

from redis import asyncio as aioredis

from ai_assist.storage_backoff import StoreBackoff
from ai_assist.telemetry.logging import get_logger

REDIS_TIMEOUT_S = 0.5  # connect and per command; a guarded call as a whole gets 2x
BACKEND = "redis (shared by every replica)"
T = TypeVar("T")
log = get_logger("ai_assist.shared_store")


class SharedStore:
    """One redis-py asyncio client (and its pool) for every user, and their guard."""

    def __init__(self, url: str, backoff: StoreBackoff | None = None) -> None:
        self.url = url
        self.client = aioredis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S,
                                              socket_connect_timeout=REDIS_TIMEOUT_S,
                                              retry_on_timeout=False)
        self.backoff = backoff or StoreBackoff()
        self.last_error = ""  # the latest failure, for a user that meets the outage late

    @property
    def pool(self) -> aioredis.ConnectionPool:
        return self.client.connection_pool

    def fail_open(self, on_error: Callable[[str], None], *, down: str, recovered: str,
                  action: str, logger=None) -> FailOpen:
        """A user's guard: `on_error(operation)` counts a call that failed open; `down`
        and `recovered` are the user's log events."""
        return FailOpen(self, on_error, down=down, recovered=recovered, action=action,
                        logger=logger or log)

    async def aclose(self) -> None:
        await self.client.aclose()


class FailOpen:
    def __init__(self, store: SharedStore, on_error: Callable[[str], None], *, down: str,
                 recovered: str, action: str, logger) -> None:
        self.store = store
        self._on_error = on_error
        self._events = (down, recovered)
        self._action = action
        self._log = logger
        self._down = False

    async def call(self, operation: str, make_call: Callable[[], Awaitable[T]],
                   fallback: T) -> T:
        """`make_call()`'s result, or `fallback` when Redis fails or is left alone."""
        backoff = self.store.backoff
        if not backoff.may_try():  # backing off after a failure: not even a try
            self._failed(operation, self.store.last_error)
            return fallback
        try:
            result = await asyncio.wait_for(make_call(), 2 * REDIS_TIMEOUT_S)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the store failed: fail open
            backoff.failed()
            self.store.last_error = f"{type(exc).__name__}: {exc}"[:300]
            self._failed(operation, self.store.last_error)
            return fallback
        backoff.succeeded()
        if self._down:
            self._down = False
            self._log.info(self._events[1], backend=BACKEND)
        return result

    def _failed(self, operation: str, error: str) -> None:
        self._on_error(operation)
        if not self._down:
            self._down = True
            self._log.warning(self._events[0], backend=BACKEND, error=error,
                              action=self._action)
