"""The machinery of the panel proofs: evaluation windows, tolerances, and the check of
every target against the traffic's truth (tests/harness/truth.py). The tests in
tests/stack/test_dashboards_proof.py and the mutation check (tests/stack/test_mutations.py)
use it."""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict

import pytest

from ai_assist.telemetry.metrics import REQUEST_BUCKETS
from tests.harness.panels import fill_variables, rate_interval_s, strip_guards
from tests.harness.processes import wait_until
from tests.harness.truth import (
    TRUTH, Expected, NotDriven, Truth, client_quantile, histogram_quantile,
)

RANGE_S = 3600  # the dashboards' default range, now-1h: $__range of the uptime panel


def tolerance(stack) -> dict:
    """How far a ratio of rates may sit from the truth. One replica's counters share one
    extrapolation factor, so its ratios are exact; two replicas are scraped at different
    offsets, and rate() stretches each one's sampled span (window minus up to one scrape
    interval) to the window, so their factors differ by up to a scrape interval over the
    sampled span. A ratio of one replica's count to the sum moves by at most that much."""
    _, interval_s = traffic_window(stack)  # the window is $__interval + one scrape
    rel = 1.2 * stack.scrape_interval_s / interval_s
    assert rel <= 0.03, "the stack's lead-in is too short for a 3 % check"
    return {"rel": rel, "abs": 1e-9}


def short(uid: str) -> str:
    return uid.removeprefix("ai-assist-")


def _at(stack, at: float) -> float:
    """`at`, once Prometheus has scraped past it."""
    wait_until(lambda: time.time() >= at + 2 * stack.scrape_interval_s, 120,
               "a scrape after the evaluation time", interval=0.2)
    return at


def traffic_window(stack) -> tuple[float, float]:
    """(evaluation time, $__interval) whose $__rate_interval covers all the traffic and
    the lead-in of zeroes before it."""
    scrape, traffic = stack.scrape_interval_s, stack.traffic
    at = _at(stack, traffic.finished_at + 2 * scrape)
    return at, math.ceil(at - traffic.started_at + stack.lead_in_s)


def idle_window(stack) -> tuple[float, float]:
    """(evaluation time, $__interval) whose $__rate_interval saw no traffic."""
    scrape = stack.scrape_interval_s
    return _at(stack, stack.traffic.finished_at + 6 * scrape), scrape


def evaluate(stack, expr: str, at: float, interval_s: float) -> list[tuple[dict, float]]:
    """`expr` as Grafana sends it, the stack's `variables` picked (else All)."""
    return stack.prom.query(fill_variables(expr, RANGE_S, interval_s, stack.scrape_interval_s,
                                           getattr(stack, "variables", None)), at=at)


# --- the truth ---------------------------------------------------------------------
# Each target's value against what the traffic did (tests/harness/truth.py), and the same
# target with its idle guards removed, which must still return the real series.
def _buckets(stack, at: float):
    def read(metric: str, matchers: str, by: tuple[str, ...]):
        selector = f"{metric}_bucket{{{matchers}}}" if matchers else f"{metric}_bucket"
        groups: dict[tuple, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        for labels, value in stack.prom.query(selector, at=at):
            groups[tuple(labels[b] for b in by)][float(labels["le"])] += value
        return {key: sorted(counts.items()) for key, counts in groups.items()}
    return read


def _sample_times(stack, at: float, rename=lambda text: text):
    """selector -> the timestamps of its raw samples in the 5 minutes before `at`: when
    Prometheus scraped a replica (`up{instance=...}`), when a rule was evaluated (the
    rule's series under `rename`, where the runner backfilled it renamed)."""
    def read(selector: str) -> list[float]:
        data = stack.prom.get("/api/v1/query", query=f"{rename(selector)}[5m]",
                               time=f"{at:.3f}")
        return sorted(float(t) for series in data["result"] for t, _ in series["values"])
    return read


def _scrape_seconds(stack, at: float):
    """instance -> its longest scrape in the 10 minutes before `at`."""
    longest = {labels.get("instance"): value for labels, value in stack.prom.query(
        "max_over_time(scrape_duration_seconds[10m])", at=at)}
    return lambda instance: longest.get(instance, 0.0)


def truth_of(stack, rename=lambda text: text) -> tuple[Truth, float, float]:
    at, interval_s = traffic_window(stack)
    outcomes = Counter(stack.emulator.stats()["by_outcome"])
    truth = Truth(stack.traffic, outcomes, stack.traffic.tokens_per_call,
                  rate_interval_s(interval_s, stack.scrape_interval_s), len(stack.services),
                  stack.model, _buckets(stack, at),
                  instances=tuple(s.target for s in stack.services), health=stack.health,
                  emulator_stats=stack.emulator.stats(), at=at,
                  sample_times=_sample_times(stack, at, rename),
                  scrape_seconds=_scrape_seconds(stack, at))
    return truth, at, interval_s


def tolerances(stack, kind: str, at: float, interval_s: float) -> dict:
    """How far a value may sit from the truth, from the window and the scrape interval:
    a ratio of one window's rates is exact but for the replicas' different extrapolation
    (see `tolerance`); a rate or a count also carries rate()'s extrapolation to the
    window's end, up to one scrape over the sampled span."""
    scrape = stack.scrape_interval_s
    span = at - stack.traffic.started_at + stack.lead_in_s
    return {"exact": {"rel": 0, "abs": 1e-9},
            "ratio": tolerance(stack),
            "rate": {"rel": 2.5 * scrape / interval_s, "abs": 1e-9},
            "count": {"rel": 2.5 * scrape / span, "abs": 1e-6}}[kind]


def keyed(samples, by: tuple[str, ...]) -> dict[tuple, float]:
    out = {}
    for labels, value in samples:
        key = tuple(labels.get(b, "") for b in by)
        assert key not in out, f"two series for {dict(zip(by, key))}"
        out[key] = value
    return out


def compare(stack, q, expected: Expected, samples, truth: Truth, at, interval_s) -> list[str]:
    got = keyed(samples, expected.by)
    where = f"{short(q.dashboard)} / {q.panel} / {q.ref}"
    if set(got) != set(expected.values):
        return [f"{where}: series {sorted(got)} instead of {sorted(expected.values)}"]
    problems = []
    for key, want in expected.values.items():
        value = got[key]
        if expected.kind == "quantile":
            r = tolerance(stack)["rel"]
            lo, hi = quantile_range(truth, q, expected, key, r)
            if not lo - 1e-9 <= value <= hi + 1e-9:
                problems.append(f"{where} {key}: {value:g} outside the truth's {lo:g}..{hi:g}")
            if expected.client:
                floor, ceiling = client_bounds(expected, r)
                if not floor - 1e-9 <= value <= ceiling + 1e-9:
                    problems.append(
                        f"{where}: {value:g} s outside {floor:g}..{ceiling:g} s, the "
                        f"buckets that hold the client's p{100 * expected.level:g} (less "
                        f"the {expected.client_adds:.3f} s the client adds)")
        elif expected.kind == "bounds":  # from Prometheus's own timestamps (truth.py)
            lo, hi = want
            if not lo - 1e-9 <= value <= hi + 1e-9:
                problems.append(f"{where} {key}: {value:g} outside the truth's {lo:g}..{hi:g}")
        elif value != pytest.approx(want, **tolerances(stack, expected.kind, at, interval_s)):
            problems.append(f"{where} {key}: {value:g}, the truth is {want:g}")
    return problems


def quantile_range(truth: Truth, q, expected: Expected, key, r: float) -> tuple[float, float]:
    """The quantile a rank error of `r` either way allows (rate()'s extrapolation differs
    by up to r between replicas), at the level the panel claims (the truth's, from its
    title or legend) and over the raw buckets of the truth's histogram and filter: never
    the level or series of the query under test, so a panel titled p95 that computes a
    lower quantile falls under the lower bound."""
    assert expected.level is not None and expected.metric, \
        f"{q.panel} / {q.ref}: a quantile truth must name its level and histogram"
    level = expected.level
    buckets = truth.buckets(expected.metric, expected.matchers, expected.by)[key]
    return (histogram_quantile(max(0.0, level * (1 - 2 * r)), buckets),
            histogram_quantile(min(1.0, level * (1 + 2 * r)), buckets))


REQUEST_BUCKETS_INF = (*sorted(float(b) for b in REQUEST_BUCKETS), math.inf)


def client_bounds(expected: Expected, r: float) -> tuple[float, float]:
    """Where the server's q-quantile can lie, from the client's latencies alone: each
    request's server time is at most what the client waited and at least that less what
    the client adds, so the server's order statistics are bounded by the client's; the
    histogram interpolates inside the bucket that holds its order statistic; and the
    rank may move by 2 r of the level either way (see quantile_range). So: at least the
    bucket boundary below the client's quantile at the lower level less what the client
    adds, at most the boundary above the client's quantile at the upper level."""
    level, latencies = expected.level, expected.client
    low = client_quantile(max(0.0, level * (1 - 2 * r)), latencies) - expected.client_adds
    high = client_quantile(min(1.0, level * (1 + 2 * r)), latencies)
    floor = max([0.0] + [le for le in REQUEST_BUCKETS_INF if le <= low])
    return floor, next(le for le in REQUEST_BUCKETS_INF if le >= high)


def bucket_of(seconds: float) -> float:
    """The upper bound of the request histogram's bucket that holds `seconds`."""
    return next(le for le in REQUEST_BUCKETS_INF if le >= seconds)


def check_truth(stack, queries, rename=lambda text: text
                ) -> tuple[list[str], dict[str, Counter], dict[str, list]]:
    """Every Prometheus target of `queries` against the traffic's truth, and again with
    its idle guards removed. Returns (problems, counts per dashboard of "total",
    "checked", "real", and the not-driven targets per dashboard with their reasons).
    `rename`: the recorded names the queries read renamed (the mutation runner's
    backfilled rules), for the truths that read recorded series' timestamps."""
    truth, at, interval_s = truth_of(stack, rename)
    assert at - stack.traffic.started_at < 300 - 10 * stack.scrape_interval_s, \
        "the traffic outlasted the 5-minute panels' window: their truth would be partial"
    statuses = stack.traffic.statuses
    assert len({statuses[s] for s in ("success", "fallback", "error", "rejected")}) == 4, \
        f"the mix must keep the statuses' counts apart, or a swapped label shows nothing: " \
        f"{dict(statuses)}"
    levels = {q: bucket_of(truth.client_quantile(q)) for q in (0.5, 0.95, 0.99)}
    assert len(set(levels.values())) == 3, \
        f"the latency tail must put the client's p50, p95 and p99 in three buckets, or a " \
        f"quantile computed at another level passes: buckets {levels}"
    counts: dict[str, Counter] = defaultdict(Counter)
    not_driven: dict[str, list] = defaultdict(list)
    problems = []
    for q in queries:
        if q.kind != "prometheus":
            continue
        where = f"{short(q.dashboard)} / {q.panel} / {q.ref}"
        counts[q.dashboard]["total"] += 1
        key = (short(q.dashboard), q.panel, q.ref)
        if key not in TRUTH:
            problems.append(f"{where}: no truth: add it to tests/harness/truth.py")
            continue
        try:
            expected = TRUTH[key](truth)
        except Exception as exc:  # e.g. the traffic did not reach the target's inputs
            problems.append(f"{where}: no truth: {exc!r}")
            continue
        try:
            strict = evaluate(stack, strip_guards(q.expr), at, interval_s)
            samples = evaluate(stack, q.expr, at, interval_s)
        except Exception as exc:  # a query Prometheus refuses
            problems.append(f"{where}: {exc}")
            continue
        if isinstance(expected, NotDriven):
            not_driven[q.dashboard].append(f"{q.panel} / {q.ref}: {expected.reason}")
            continue
        found = compare(stack, q, expected, samples, truth, at, interval_s)
        problems += found
        counts[q.dashboard]["checked"] += not found
        try:
            same = strict and keyed(strict, expected.by) == pytest.approx(
                keyed(samples, expected.by))
        except AssertionError:
            same = False
        if same:
            counts[q.dashboard]["real"] += 1
        else:
            problems.append(f"{where}: without its idle guards it returns {strict}, not the "
                            "real series")
    return problems, counts, not_driven


