"""How each simulated series moves: one replica's load over time, and from it every
counter, gauge and histogram of the catalogue.

- Load: requests per second per replica, a daily cycle (x0.5 at night, x1.5 at the peak)
  with noise; every series of a replica follows its own replica's load.
- Counters grow by Poisson increments of load x interval x a per-label-set weight: the
  first value of every closed label set (success, valid, matched, ...) takes most of the
  traffic, the others share the rest, so errors, fallbacks and rejections exist at
  realistic ratios. During an incident (about one hour a day per replica, at random)
  every non-first label value runs x10: error bursts that the alerts see.
- Restarts: about one replica in three restarts once in the history; all its counters
  reset to 0 there (Prometheus sees a counter reset) and `up` reads 0 for that sample.
- Histograms: a count per label set as for counters, spread over the buckets by a
  log-normal whose median is the middle bucket bound; buckets stay cumulative.
- Gauges wander: ratios in 0..1, byte counts around a level, queue lengths that follow
  the load, the circuit breaker open during incidents, constants where the service's
  gauge is a constant (build info, experiment weights).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ai_assist.telemetry import metrics as catalogue
from scale.series import Family

REQUESTS_PER_S = 2.0  # a replica's mean load
INCIDENT_FACTOR = 10.0
INCIDENT_S = 3600
RESTART_SHARE = 1 / 3
FIRST_VALUE_SHARE = 0.85  # the first value of a closed label set; the rest share 0.15
UP = "up"  # Prometheus's own series of each target

# Per request, how much a counter family grows (1 when absent). Keys are the catalogue's
# names; counters that are not per request grow rarely.
PER_REQUEST = {
    catalogue.GEMINI_TOKENS_TOTAL: 1500.0,
    catalogue.REQUEST_TOKENS_TOTAL: 1500.0,
    catalogue.REQUEST_TOKENS_SQUARES_TOTAL: 2.5e6,
    catalogue.GEMINI_WASTED_TOKENS_TOTAL: 30.0,
    catalogue.CACHE_TOKENS_SAVED_TOTAL: 150.0,
    catalogue.MATCHES_TOTAL: 3.0,
    catalogue.FRAMEWORK_REQUESTS_TOTAL: 1.5,
    catalogue.CONFIDENCE_SQUARES_TOTAL: 0.7,
    catalogue.GEMINI_RETRIES_TOTAL: 0.05,
    catalogue.GEMINI_RETRIES_DENIED_TOTAL: 0.005,
    catalogue.CIRCUIT_TRANSITIONS_TOTAL: 0.001,
    catalogue.GPU_SAMPLE_ERRORS_TOTAL: 0.0005,
    catalogue.RATE_LIMIT_STORAGE_ERRORS_TOTAL: 0.0005,
    catalogue.PROFILING_OUTAGES_TOTAL: 0.0001,
    catalogue.ADMIN_AUTH_FAILURES_TOTAL: 0.0005,
    catalogue.CACHE_EVICTIONS_TOTAL: 0.1,
    catalogue.CANARY_CHECKS_TOTAL: 0.01,
    catalogue.CANARY_HITS_TOTAL: 0.009,
}
# A histogram's median (the log-normal's; sigma 0.8), by the catalogue's name.
MEDIANS = {
    catalogue.REQUEST_DURATION: 2.0, catalogue.STAGE_DURATION: 0.3,
    catalogue.CONFIDENCE: 0.8, catalogue.VECTOR_SIMILARITY: 0.75,
    catalogue.EMBEDDING_BATCH_SIZE: 4.0, catalogue.GEMINI_CONCURRENCY_WAIT: 0.01,
}
CONSTANT_GAUGES = {catalogue.BUILD_INFO: 1.0, catalogue.GPU_DEVICES: 1.0,
                   catalogue.CATALOGUE_DISCLOSURES: 120.0}


@dataclass
class Replica:
    """One replica's whole history: its load, incidents and restart."""

    load: np.ndarray  # requests per second at each sample
    incident: np.ndarray  # bool at each sample
    restart: int | None  # sample index of its restart, if any


def replica_history(rng: np.random.Generator, times: np.ndarray) -> Replica:
    n = len(times)
    day = 2 * math.pi * (times % 86400) / 86400
    load = REQUESTS_PER_S * (1 + 0.5 * np.sin(day)) * rng.lognormal(0, 0.15, n)
    incident = np.zeros(n, dtype=bool)
    step = float(times[1] - times[0]) if n > 1 else 60.0
    width = max(1, int(INCIDENT_S / step))
    for start in range(0, n, max(1, int(86400 / step))):  # about one an hour a day
        at = start + int(rng.integers(0, max(1, int(86400 / step))))
        incident[at:at + width] = True
    restart = int(rng.integers(1, n)) if n > 2 and rng.random() < RESTART_SHARE else None
    return Replica(load, incident, restart)


def _weights(family: Family) -> np.ndarray:
    """Each label set's share of the family's traffic, and whether it is a minority."""
    values: dict[str, list[str]] = {}
    for labels in family.groups:
        for name, value in labels:
            values.setdefault(name, [])
            if value not in values[name]:
                values[name].append(value)
    weights, minority = [], []
    for labels in family.groups:
        w, m = 1.0, False
        for name, value in labels:
            k = len(values[name])
            if k > 1:
                i = values[name].index(value)
                w *= FIRST_VALUE_SHARE if i == 0 else (1 - FIRST_VALUE_SHARE) / (k - 1)
                m = m or i > 0
        weights.append(w)
        minority.append(m)
    return np.array(weights), np.array(minority)


def _counts(rng, family: Family, replica: Replica, sl: slice, step: float,
            per_request: float) -> np.ndarray:
    """Poisson increments per label set (rows) and sample (columns)."""
    weights, minority = _weights(family)
    load = replica.load[sl] * step * per_request
    boost = np.where(replica.incident[sl], INCIDENT_FACTOR, 1.0)
    lam = weights[:, None] * load[None, :] * np.where(minority[:, None], boost[None, :], 1.0)
    return rng.poisson(lam).astype(np.float64)


def _accumulate(increments: np.ndarray, carry: np.ndarray, replica: Replica,
                sl: slice) -> np.ndarray:
    """Counter values from increments; a restart inside the slice resets them to 0."""
    values = carry[:, None] + np.cumsum(increments, axis=-1)
    if replica.restart is not None and sl.start <= replica.restart < sl.stop:
        at = replica.restart - sl.start
        before = values[..., at - 1] if at > 0 else carry
        values[..., at:] -= before[..., None] + increments[..., at:at + 1]
    return values


def histogram_cdf(family: Family) -> np.ndarray:
    bounds = [float(le) for le in family.buckets[:-1]]
    median = MEDIANS.get(family.name, bounds[len(bounds) // 2])
    cdf = [0.5 * (1 + math.erf(math.log(b / median) / (0.8 * math.sqrt(2))))
           if b > 0 else 0.0 for b in bounds]
    return np.array([*cdf, 1.0]), median * math.exp(0.32)


class FamilyState:
    """A family's counters across the time chunks of one replica."""

    def __init__(self, family: Family) -> None:
        self.family = family
        rows = len(family.groups)
        if family.kind == "histogram":
            self.cdf, self.mean = histogram_cdf(family)
            self.carry = np.zeros((rows, len(family.buckets) + 2))
        else:
            self.carry = np.zeros(rows)

    def values(self, rng, replica: Replica, sl: slice, times: np.ndarray,
               step: float) -> np.ndarray:
        """counter/gauge: (groups, samples); histogram: (groups, buckets + count + sum,
        samples). `times` is the whole history's, `sl` this chunk's part of it."""
        family = self.family
        if family.kind == "counter":
            inc = _counts(rng, family, replica, sl, step,
                          PER_REQUEST.get(f"{family.name}_total", 1.0))
            out = _accumulate(inc, self.carry, replica, sl)
            self.carry = out[:, -1].copy()
            return out
        if family.kind == "histogram":
            n = _counts(rng, family, replica, sl, step, 1.0)  # (groups, samples)
            buckets = np.floor(n[:, None, :] * self.cdf[None, :, None])
            noise = rng.lognormal(0, 0.1, n.shape)
            inc = np.concatenate([buckets, n[:, None, :],
                                  (n * self.mean * noise)[:, None, :]], axis=1)
            out = np.stack([_accumulate(inc[:, j, :], self.carry[:, j], replica, sl)
                            for j in range(inc.shape[1])], axis=1)
            self.carry = out[:, :, -1].copy()
            return out
        return gauge_values(rng, family, replica, sl, times)


def gauge_values(rng, family: Family, replica: Replica, sl: slice,
                 times: np.ndarray) -> np.ndarray:
    rows, n = len(family.groups), sl.stop - sl.start
    name = family.name
    shape = (rows, n)
    if name in CONSTANT_GAUGES:
        return np.full(shape, CONSTANT_GAUGES[name])
    if name == catalogue.EXPERIMENT_VARIANT_WEIGHT:
        return np.full(shape, 1.0 / rows)
    if name == catalogue.HEALTH_STATUS:
        return np.where(replica.incident[sl][None, :] & (rng.random((rows, 1)) < 0.25), 0.0,
                        np.ones(shape))
    if name == catalogue.CIRCUIT_STATE:
        return np.where(replica.incident[sl], 2.0, 0.0)[None, :].repeat(rows, 0)
    if name.endswith("_timestamp_seconds"):
        return (times[sl][None, :] - rng.uniform(0, 300, shape)).round()
    if name.endswith("_start_time_seconds"):
        start = np.full(n, times[0] - 86400.0)
        if replica.restart is not None:
            start[np.arange(sl.start, sl.stop) >= replica.restart] = times[replica.restart]
        return start[None, :].repeat(rows, 0)
    if name.endswith("_ratio"):
        return np.clip(0.75 + 0.15 * rng.standard_normal(shape), 0, 1).round(4)
    if name.endswith("_bytes"):
        return (2e9 * (1 + 0.05 * rng.standard_normal(shape))).round()
    if name.endswith("_max_fds"):
        return np.full(shape, 1048576.0)
    # queue lengths, calls in flight, open files: follow the load
    return rng.poisson(replica.load[sl][None, :] * np.ones((rows, 1))).astype(float)


def up_values(replica: Replica, sl: slice) -> np.ndarray:
    up = np.ones(sl.stop - sl.start)
    if replica.restart is not None and sl.start <= replica.restart < sl.stop:
        up[replica.restart - sl.start] = 0
    return up
