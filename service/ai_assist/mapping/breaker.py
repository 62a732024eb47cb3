"""A circuit breaker on Gemini: stop calling an API that keeps failing.

closed     calls flow; each failed call (429, 5xx, timeout, connection or protocol
           error) adds to a streak that any successful call resets. At
           AI_ASSIST_CIRCUIT_FAILURE_THRESHOLD consecutive failures it opens.
open       no call is made: the request is answered by the fallback at once (reason
           circuit_open). After AI_ASSIST_CIRCUIT_COOLDOWN_S it turns half-open.
half_open  one probe call goes through; every other request is still short-circuited.
           The probe's success closes the breaker, its failure opens it again for
           another cool-down. A probe that ends with no verdict (a 4xx that is our
           fault, or a request cancelled by its client) frees the probe slot.

Neutral outcomes (HTTP 4xx other than 429, cancelled calls, and a timeout of a call
that the request deadline left less than llm.BREAKER_TIMEOUT_EVIDENCE_S and less than its
whole llm_timeout_s: under overload such calls time out for the service's own reasons)
neither count as failures nor reset the streak. The state is the gauge gemini_circuit_breaker_state (0 closed,
1 half-open, 2 open, read at scrape time, so an open breaker past its cool-down shows 1
without traffic), every change counts in gemini_circuit_breaker_transitions_total{state}
and logs one line, and /health reports gemini_api not ok while it is open.

Why not a library. The candidates were looked at: purgatory 3 (the maintained asyncio
one) lets every request through while half-open instead of one probe, measures the
cool-down with the wall clock (time.time), and reports state changes through its own
message bus and unit of work; aiobreaker's last release is from 2021; pybreaker's async
path needs tornado; circuitbreaker has no half-open probe limit and no hook for state
changes. What this service needs is the small state machine below, driven from one
event loop (no locks), on the monotonic clock, with neutral outcomes and a synchronous
state read for /health and the gauge.
"""

from __future__ import annotations

import time
from typing import Callable

from ai_assist.telemetry.logging import get_logger
from ai_assist.telemetry.metrics import CIRCUIT_STATES, Metrics

CLOSED, HALF_OPEN, OPEN = CIRCUIT_STATES
GAUGE_VALUE = {state: value for value, state in enumerate(CIRCUIT_STATES)}  # 0, 1, 2

log = get_logger("ai_assist.breaker")


class CircuitBreaker:
    def __init__(self, threshold: int, cooldown_s: float, metrics: Metrics,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold  # 0: off, never opens
        self.cooldown_s = cooldown_s
        self.metrics = metrics
        self._clock = clock
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        metrics.circuit_state.set_function(lambda: GAUGE_VALUE[self.state])

    @property
    def enabled(self) -> bool:
        return self.threshold > 0

    @property
    def state(self) -> str:
        """closed, half_open or open; an open breaker past its cool-down is half_open."""
        if self._state == OPEN and self._clock() - self._opened_at >= self.cooldown_s:
            self._move(HALF_OPEN)
        return self._state

    def refuses(self) -> bool:
        """Whether a call would be refused now (reserves nothing)."""
        state = self.state
        return state == OPEN or (state == HALF_OPEN and self._probing)

    def acquire(self) -> bool | None:
        """Permission for one call: None (refused), True (the half-open probe) or False
        (an ordinary call). Pass the answer to succeeded / failed / released."""
        state = self.state
        if state == CLOSED:
            return False
        if state == HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return None

    def succeeded(self, probe: bool) -> None:
        if probe:
            self._probing = False
        self._failures = 0
        if self._state != CLOSED:
            self._move(CLOSED)

    def failed(self, probe: bool) -> None:
        if probe:
            self._probing = False
            self._open()
            return
        if self._state != CLOSED or not self.enabled:
            return  # a call that started before the breaker opened
        self._failures += 1
        if self._failures >= self.threshold:
            self._open()

    def released(self, probe: bool) -> None:
        """The call ended with no verdict on Gemini's health."""
        if probe:
            self._probing = False

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._move(OPEN)

    def _move(self, state: str) -> None:
        if state == self._state:
            return
        previous, self._state = self._state, state
        self.metrics.circuit_transitions.labels(state).inc()
        if state == OPEN:
            log.warning("circuit_breaker_opened", previous_state=previous,
                        consecutive_failures=self._failures, cooldown_s=self.cooldown_s)
        else:
            log.info(f"circuit_breaker_{state}", previous_state=previous)
        if state == CLOSED:
            self._failures = 0
