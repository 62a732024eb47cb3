"""Back off from a shared store (Redis) that failed, instead of storming it.

The rate limiter and the response cache fail open when Redis does not answer. Without
this, each request tries Redis again: a Redis that is frozen (SIGSTOP, a stuck host, a
full accept queue) still completes TCP handshakes in the kernel, so every request's
attempt leaves one more connection in its accept queue (the command times out, the
client drops the connection, the next request opens another), and they all land on it
at once when it resumes: about as many connections a second as requests.

After a failure the store is left alone for a backoff, computed by redis-py's own
EqualJitterBackoff (half the exponential delay fixed, half random: from BASE_S doubling
to CAP_S); requests in that time fail open at once without touching Redis (and are
counted as the store's errors, as a failed call would be). When the backoff has passed,
one request tries; its success ends the outage, its failure starts a longer backoff.
Concurrent requests past the backoff do not all try: the first one moves the next try
out. Driven from one event loop, no locks.
"""

from __future__ import annotations

import time
from typing import Callable

from redis.backoff import EqualJitterBackoff

BASE_S = 0.25  # the first backoff is 0.25..0.5 s
CAP_S = 5.0    # at most 2.5..5 s between tries: a Redis that is back is used within 5 s


class StoreBackoff:
    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 backoff: EqualJitterBackoff | None = None) -> None:
        self._clock = clock
        self._backoff = backoff or EqualJitterBackoff(cap=CAP_S, base=BASE_S)
        self.failures = 0  # consecutive
        self._next_try = 0.0

    def may_try(self) -> bool:
        """Whether a call may go to the store now (it reserves the try)."""
        if self.failures == 0:
            return True
        now = self._clock()
        if now < self._next_try:
            return False
        # this request probes; others wait for its verdict (or the next backoff)
        self._next_try = now + self._backoff.compute(self.failures)
        return True

    def failed(self) -> None:
        self.failures += 1
        self._next_try = self._clock() + self._backoff.compute(self.failures)

    def succeeded(self) -> None:
        self.failures = 0
