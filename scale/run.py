"""The simulation: per replica count N, generate, backfill, serve, measure.

History: the end is the last whole 2 h before now. Raw series (every catalogue series
of every replica, and `up`) cover the last `raw_hours` at one uniform interval
(default 120 s: every [5m] window of the rules holds 2 or 3 samples, so rate() is
valid everywhere; a 24 h dashboard range plus its windows is covered; 60 s did not fit
the 15-minute budget on 2 cores). Recorded series
(recorded.py) are written at the same interval as far back as any rule or panel reads
them (their range, subqueries and offsets, plus the dashboard range), at most
`recorded_days` (default 30): a query never reads further, so it costs the same.

Disk and time demand this scaling (200 replicas x 521 series x 30 days at 15 s would be
9 billion samples); the check states it with its table. Measured samples are therefore
lower than production's; for the rule budget each expression's count is scaled to the
production intervals (prometheus/prometheus.yml) and 30 days of raw history: the
selector that gains the most sets the factor, so the figure is an upper bound.
Dashboards are measured as Grafana would query this data (its step and
$__rate_interval for the simulated scrape interval), not scaled.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from observability.promapi import Prometheus, QueryStats
from observability.selectors import SELECTORS

from scale import openmetrics as om
from scale import queries as q
from scale import recorded as rec
from scale.budgets import RETRIES_OVER_BUDGET
from scale.prometheus import QUERY_TIMEOUT_S, PrometheusProcess
from scale.promtool import BLOCK_RANGES_S, Backfill
from scale.series import Family, replica_families, series_per_replica
from scale.traffic import UP, FamilyState, replica_history

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_YML = ROOT / "prometheus" / "prometheus.yml"
RAW_CHUNK_S = BLOCK_RANGES_S[0]
DAY = 86400
PRODUCTION_HISTORY_S = 30 * DAY


def production_intervals() -> tuple[float, float]:
    """(scrape, rule evaluation) interval of the bundle's Prometheus config."""
    config = yaml.safe_load(PROMETHEUS_YML.read_text())["global"]
    return q.seconds(config["scrape_interval"]), q.seconds(config["evaluation_interval"])


@dataclass
class Plan:
    replicas: tuple[int, ...] = (10, 50, 100, 200)
    step_s: float = 120.0
    raw_hours: int = 26
    recorded_days: int = 30
    ranges_s: tuple[float, ...] = (6 * 3600, 24 * 3600, 7 * DAY)
    namespace: str = "ai-assist"
    work: Path = ROOT / ".data" / "scale-check"
    rules_dir: Path = ROOT / "prometheus" / "rules"
    dashboards_dir: Path = ROOT / "dashboards" / "json"
    seed: int = 1


@dataclass
class Measured:
    query: q.Query
    replicas: int
    stats: QueryStats
    factor: float = 1.0  # to production intervals and history (rules only)

    @property
    def projected_samples(self) -> int:
        return int(self.stats.total_samples * self.factor)


@dataclass
class Result:
    plan: Plan
    series_per_replica: int
    measured: list[Measured] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # what took how long
    samples_written: dict[int, int] = field(default_factory=dict)
    recorded_series: dict[int, int] = field(default_factory=dict)


def chunks(start: float, end: float, raw_start: float) -> list[tuple[float, float]]:
    """Block-aligned [a, b) spans covering [start, end): 2 h ones over the raw history,
    the largest aligned block range before it."""
    out = []
    p = end
    while p > start:
        size = RAW_CHUNK_S
        if p <= raw_start:
            size = max(c for c in BLOCK_RANGES_S if p % c == 0 and p - c >= start
                       or c == RAW_CHUNK_S)
        out.append((p - size, p))
        p -= size
    return out[::-1]


def raw_names(families: tuple[Family, ...]) -> set[str]:
    return {n for f in families for n in f.sample_names} | {UP}


def _factor(query: q.Query, plan: Plan, raw: set[str], recorded: set[str]) -> float:
    scrape, evaluation = production_intervals()

    def per_series(back: float, interval: float, history: float) -> float:
        return max(1.0, min(back, history) / interval)

    factors = [1.0]
    for name, back in q.lookbacks(query.expr, raw | recorded):
        prod_interval = scrape if name in raw else evaluation
        history = plan.raw_hours * 3600 if name in raw else plan.recorded_days * DAY
        factors.append(per_series(back, prod_interval, PRODUCTION_HISTORY_S)
                       / per_series(back, plan.step_s, history))
    return max(factors)


LOOKBACK_DELTA_S = 300  # Prometheus's default: an instant selector reads this far back


def recorded_needs(queries: list[q.Query], recorded_names: set[str],
                   per_replica: frozenset[str] = frozenset(),
                   raw_s: float = math.inf) -> dict[str, float]:
    """How far back from the end each recorded series is read (its range, subqueries,
    offsets, plus a dashboard's range): its history is generated that far, no further.
    A series recorded per replica (`per_replica`: the bucket rates, the per-replica
    counter sums) is generated for panels over at most the raw history (`raw_s`), like
    the raw series it sums: a 7 d panel finds as much of it as of them. Rules get all
    they read."""
    need = dict.fromkeys(recorded_names, float(LOOKBACK_DELTA_S))
    for query in queries:
        for name, back in q.lookbacks(query.expr, recorded_names):
            reach = back + query.range_s + LOOKBACK_DELTA_S
            if query.kind == "panel" and name in per_replica:
                reach = min(reach, raw_s)
            need[name] = max(need[name], reach)
    return need


def generate(plan: Plan, families: tuple[Family, ...], recorded: list[om.Recorded],
             replicas: int, tsdb: Path, end: float, need: dict[str, float]) -> int:
    """Write and backfill the history of `replicas`; returns the samples written."""
    raw_start = end - plan.raw_hours * 3600
    start = end - plan.recorded_days * DAY
    times = np.arange(raw_start, end, plan.step_s)
    rngs = [np.random.default_rng(plan.seed * 100_003 + i) for i in range(replicas)]
    histories = [replica_history(r, times) for r in rngs]
    states = [{f.name: FamilyState(f) for f in families} for _ in histories]
    noise = np.random.default_rng(plan.seed)
    backfill = Backfill(tsdb)
    written = 0
    tsdb.parent.mkdir(parents=True, exist_ok=True)
    scratch = scratch_dir(tsdb.parent)
    try:
        for a, b in chunks(start, end, raw_start):
            path = scratch / f"chunk-{int(a)}.om"
            with open(path, "w") as out:
                if a >= raw_start:
                    i0 = int(round((a - raw_start) / plan.step_s))
                    i1 = int(round((b - raw_start) / plan.step_s))
                    written += om.write_families(out, families, histories, states, rngs, times,
                                                 slice(i0, i1), plan.step_s, plan.namespace)
                wanted = [r for r in recorded if b > end - need.get(r.name, LOOKBACK_DELTA_S)]
                written += om.write_recorded(out, wanted, noise,
                                             np.arange(a, b - plan.step_s / 2, plan.step_s))
                om.end(out)
            backfill.add(path, int(b - a))
        backfill.wait()
    finally:
        if scratch != tsdb.parent:
            shutil.rmtree(scratch, ignore_errors=True)
    return written


SHM = Path("/dev/shm")
SHM_FREE_BYTES = 8 << 30  # three N=200 chunk files in flight take about 4 GB


def scratch_dir(fallback: Path) -> Path:
    """Where the OpenMetrics files live until promtool has read them: memory (tmpfs)
    where there is room, so that the tens of GB of text a run writes never reach the
    disk; else `fallback`."""
    try:
        stat = shutil.disk_usage(SHM)
    except OSError:
        return fallback
    if stat.free < SHM_FREE_BYTES:
        return fallback
    return Path(tempfile.mkdtemp(prefix="scale-check-", dir=SHM))


def measure(client: Prometheus, queries: list[q.Query], at: float, replicas: int,
            over_budget) -> list[Measured]:
    """Every query once; then each one over a budget again, RETRIES_OVER_BUDGET more
    times, after all the others (a burst of load on a shared machine then hits one try,
    not all three in a row); the fastest try counts."""
    def once(query: q.Query) -> QueryStats:
        if not query.range_s:
            return client.query_stats(query.expr, at)
        end = at // query.step_s * query.step_s  # Grafana aligns to the step
        return client.query_range_stats(query.expr, end - query.range_s, end,
                                        query.step_s)

    out = [Measured(query, replicas, once(query)) for query in queries]
    for _ in range(RETRIES_OVER_BUDGET):
        for m in out:
            if over_budget(m.query, replicas, m.stats):
                again = once(m.query)
                if again.wall_s < m.stats.wall_s:
                    m.stats = again
    return out


def all_queries(plan: Plan, scrape_s: float) -> list[q.Query]:
    out = q.rule_queries(plan.rules_dir)
    for range_s in plan.ranges_s:
        out += q.dashboard_queries(plan.dashboards_dir, range_s, scrape_s)
    return out


def simulate(plan: Plan, over_budget, log=print) -> Result:
    families = replica_families()
    result = Result(plan, series_per_replica(families) + 1)  # + up
    if plan.work.exists():
        shutil.rmtree(plan.work / "runs", ignore_errors=True)
    plan.work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    learned = rec.learn(plan.work / "runs" / "pilot", plan.rules_dir, families,
                        plan.step_s, plan.namespace)
    result.phases["pilot (recording rules' output)"] = time.monotonic() - started
    log(f"pilot: the rules record {len(learned)} series kinds "
        f"({time.monotonic() - started:.0f} s)")
    queries = all_queries(plan, plan.step_s)
    raw, recorded_names = raw_names(families), q.recorded_names(plan.rules_dir)
    per_replica = frozenset(r.name for r in learned if dict(r.labels).get(rec.INSTANCE))
    need = recorded_needs(queries, recorded_names, per_replica, plan.raw_hours * 3600)
    end = float(int(time.time() // RAW_CHUNK_S * RAW_CHUNK_S))
    at = end - plan.step_s  # the last sample
    for n in plan.replicas:
        tsdb = plan.work / "runs" / f"n{n}" / "tsdb"
        t0 = time.monotonic()
        recorded = rec.for_replicas(learned, n)
        result.recorded_series[n] = len(recorded)
        result.samples_written[n] = generate(plan, families, recorded, n, tsdb, end, need)
        t1 = time.monotonic()
        result.phases[f"N={n} generate + backfill"] = t1 - t0
        log(f"N={n}: {result.samples_written[n] / 1e6:.0f} M samples backfilled "
            f"({t1 - t0:.0f} s)")
        with PrometheusProcess(tsdb.parent, tsdb) as prom:
            measured = measure(prom.client, queries, at, n, over_budget)
        for m in measured:
            if m.query.kind != "panel":
                m.factor = _factor(m.query, plan, raw, recorded_names)
        result.measured += measured
        result.phases[f"N={n} queries"] = time.monotonic() - t1
        log(f"N={n}: {len(measured)} queries ({time.monotonic() - t1:.0f} s)")
        shutil.rmtree(tsdb.parent)
    result.phases["total"] = time.monotonic() - started
    return result


def against(url: str, plan: Plan, scrape_s: float, over_budget) -> Result:
    """The same queries against a Prometheus of your own, at its now; no scaling."""
    client = Prometheus(url, timeout_s=QUERY_TIMEOUT_S)
    up = client.query(f'count({UP}{{{SELECTORS.job_matcher}}})')
    replicas = int(up[0][1]) if up else 0
    result = Result(plan, 0)
    started = time.monotonic()
    result.measured = measure(client, all_queries(plan, scrape_s), time.time(), replicas,
                              over_budget)
    result.phases["total"] = time.monotonic() - started
    return result

