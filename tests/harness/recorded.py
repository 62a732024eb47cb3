"""Every recorded series against the traffic's truth, read where the rule's window (the
one its name says: `rate5m`, `increase1d`, `ratio30d`) changes the value.

Two evaluation times:
- "end": just after the traffic; every window of 5 minutes or more holds all of it (and
  the lead-in of zeroes), so a rate is the traffic's count over the window's length (a
  rule over another window than its name gives another rate) and a ratio is the whole
  traffic's;
- "pause": 5 minutes after the traffic's pause (tests/harness/traffic.py `pause`, less
  two scrapes so the window starts inside it): a 5-minute window holds only what came
  after the pause (a latency tail and the experiment's successes: no error, no fallback,
  no failed parse, more retries, slower), every longer window still all of it, so a
  ratio over 5 minutes differs from one over 30 minutes or more, and one over a minute
  (nothing there at "pause", the traffic's last minute at "end") differs at "end".
The truth of a window comes from the client's records and the emulator's counters of
the requests in it (for "pause": after the pause, the emulator's counters less those
taken at the pause), and the raw histogram buckets at the window's two ends for
quantiles, as for the panels (tests/harness/truth.py); the recorded names are written
here, as the contract the alerts and dashboards read, never imported.

RECORDED maps a recorded name to a function (Truth, window seconds, the rule's labels)
-> Expected | NotDriven; `aggregate` names the series summed over their replicas (one
series a replica)."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable

from tests.harness.truth import (
    BAND, LATENCY_SLO_S, SLO_BASE_WINDOW_S, SLO_BUDGET, Expected, NotDriven, Truth,
    _avg_output, _confidence, _desired_replicas, _error_rate, _fallback_ratio,
    _match_success, _parse_success, _ratio, budget_bounds, histogram_quantile, one,
    own_time, slo_bad, slo_ratio_bounds, slo_stretch, slo_weights,
)
from tests.harness.traffic import Tally

SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
WINDOW = re.compile(r":[a-z_]*?(\d+)([smhdw])$")


def window_of(record: str) -> float | None:
    """The window a recorded name says it reads: ...:rate5m -> 300."""
    match = WINDOW.search(record)
    return int(match.group(1)) * SECONDS[match.group(2)] if match else None


# --- the truths --------------------------------------------------------------------
def _rate(count: Callable[[Truth], float], per: float = 1.0):
    return lambda t, w, labels: one(count(t) * per / w, "rate")


def _value(fn):
    return lambda t, w, labels: fn(t)


def _quantile(q: float, metric: str, matchers: str = ""):
    return lambda t, w, labels: t.quantile(q, metric, matchers)


def _slo_bad(t: Truth, slo: str) -> int:
    return sum(1 for r in t.records if r.reached_pipeline and slo_bad(slo, r))


def _slo_ratio(t: Truth, w: float, labels: dict) -> Expected:
    return one(_slo_bad(t, labels["slo"]) / t.answered, "ratio")


def _slo_requests(t: Truth, w: float, labels: dict) -> Expected:
    return one(t.answered / w, "rate")


def _slo_errors(t: Truth, w: float, labels: dict) -> Expected:
    return one(_slo_bad(t, labels["slo"]) / w, "rate")


def _long_slo_ratio(t: Truth, w: float, labels: dict) -> Expected:
    """sum_over_time of the recorded 5-minute errors over that of the requests: the
    requests weighed by the evaluations that counted them, up to the ratio's own."""
    slo = labels["slo"]
    until = own_time(t, f'ai_assist:slo_error_ratio:rate{_name_window(w)}{{slo="{slo}"}}')
    return Expected({(): slo_ratio_bounds(t, slo, until)}, "bounds")


def _long_slo_requests(t: Truth, w: float, labels: dict) -> Expected:
    """avg_over_time of the recorded 5-minute request rate: the requests' weights over
    300 s, over the number of evaluations in the window."""
    slo = labels["slo"]
    until = own_time(t, f'ai_assist:slo_requests:rate{_name_window(w)}{{slo="{slo}"}}')
    (fewest, most), _, evaluations = slo_weights(t, slo, until)
    in_window = [e for e in evaluations if e > until - w]
    low, high = (sum(ws) / SLO_BASE_WINDOW_S / len(in_window) for ws in (fewest, most))
    return Expected({(): (low, high * slo_stretch(t, evaluations))}, "bounds")


def _budget(t: Truth, w: float, labels: dict) -> Expected:
    return Expected({(): budget_bounds(t, labels["slo"])}, "bounds")


def _name_window(w: float) -> str:
    for unit in ("d", "h", "m"):
        if w % SECONDS[unit] == 0:
            return f"{int(w // SECONDS[unit])}{unit}"
    return f"{int(w)}s"


def _cost(t: Truth, w: float, labels: dict) -> Expected:
    return one(t.cost_usd(), "exact")


def _latency_vote(t: Truth, w: float, labels: dict) -> Expected | NotDriven:
    """The HPA formula's vote of the latency signal (the plan's 3.2): ceil(replicas x
    p95 / 30 s), from the bounds of the truth's p95."""
    p95 = t.quantile(0.95, "esg_mapping_request_duration_seconds").values[()]
    votes = {math.ceil(t.replicas * p95 * f / LATENCY_SLO_S) for f in (0.9, 1.1)}
    if len(votes) != 1:
        return NotDriven(f"the p95 ({p95:.1f} s) is near a vote's boundary")
    return one(votes.pop(), "exact")


RECORDED: dict[str, Callable] = {
    # the SLI rows (alerting/sli.py): 5-minute rates and ratios, daily increases
    "ai_assist:answered_requests:rate5m": _rate(lambda t: t.answered),
    "ai_assist:throughput:rate5m": _rate(lambda t: t.answered, per=60),
    "ai_assist:latency_p95:rate5m": _quantile(0.95, "esg_mapping_request_duration_seconds"),
    "ai_assist:latency_p99:rate5m": _quantile(0.99, "esg_mapping_request_duration_seconds"),
    "ai_assist:embedding_p95:rate5m":
        _quantile(0.95, "esg_mapping_duration_seconds", 'stage="embedding"'),
    "ai_assist:vector_search_p95:rate5m":
        _quantile(0.95, "esg_mapping_duration_seconds", 'stage="vector_search"'),
    "ai_assist:llm_p95:rate5m": _quantile(0.95, "esg_mapping_duration_seconds", 'stage="llm"'),
    "ai_assist:match_success:rate5m": _value(_match_success),
    "ai_assist:avg_confidence:rate5m": _value(_confidence),
    "ai_assist:json_parse_success:rate5m": _value(_parse_success),
    "ai_assist:fallback_ratio:rate5m": _value(_fallback_ratio),
    "ai_assist:error_rate:rate5m": _value(_error_rate),
    "ai_assist:availability:rate5m": lambda t, w, labels: one(1 - _error_rate(t).values[()],
                                                               "ratio"),
    "ai_assist:retry_ratio:rate5m": _value(_ratio(lambda t: t.retries(), lambda t: t.calls)),
    "ai_assist:timeout_ratio:rate5m":
        _value(_ratio(lambda t: t.call_outcomes()["timeout"], lambda t: t.calls)),
    "ai_assist:avg_input_tokens:rate5m":
        lambda t, w, labels: one(t.prompt_tokens() / t.call_outcomes()["ok"], "ratio"),
    "ai_assist:avg_output_tokens:rate5m": _value(_avg_output),
    # counters summed, no rate: what the emulator billed
    "ai_assist:gemini_tokens_used:sum": lambda t, w, labels: one(sum(t.tokens().values()),
                                                                 "exact"),
    "ai_assist:gemini_api_calls:sum": lambda t, w, labels: one(t.calls, "exact"),
    "ai_assist:daily_tokens:increase1d": lambda t, w, labels: one(sum(t.tokens().values()),
                                                                  "count"),
    "ai_assist:daily_api_requests:increase1d": lambda t, w, labels: one(t.calls, "count"),
    # cost (alerting/cost.py): the spend so far, and its rate over a day
    "ai_assist:gemini_cost_usd:sum": _cost,
    "ai_assist:gemini_cost_usd_per_second:rate1d":
        lambda t, w, labels: one(t.cost_usd() / w, "rate"),
    # the SLOs (alerting/slo.py)
    "ai_assist:slo_objective:ratio":
        lambda t, w, labels: one(1 - SLO_BUDGET[labels["slo"]], "exact"),
    "ai_assist:slo_error_budget_remaining:ratio30d": _budget,
    "ai_assist:slo_errors:rate5m": _slo_errors,
    **{f"ai_assist:slo_error_ratio:rate{w}": _slo_ratio for w in ("5m", "30m", "1h", "2h", "6h")},
    **{f"ai_assist:slo_requests:rate{w}": _slo_requests for w in ("5m", "30m", "1h", "2h", "6h")},
    **{f"ai_assist:slo_error_ratio:rate{w}": _long_slo_ratio for w in ("1d", "3d", "30d")},
    **{f"ai_assist:slo_requests:rate{w}": _long_slo_requests for w in ("1d", "3d", "30d")},
    # autoscaling (alerting/autoscaling.py): the HPA's inputs and its answer
    "ai_assist:autoscaler_replicas:count": lambda t, w, labels: one(t.replicas, "exact"),
    "ai_assist:autoscaler_signal:value": lambda t, w, labels: {
        # texts queued at a scrape: none once answered, at most every request's
        "queue": lambda: Expected({(): (0, t.answered)}, "bounds"),
        "gpu": lambda: one(0, "exact") if not t.gpus else NotDriven("GPU load: device check"),
        "latency": lambda: t.quantile(0.95, "esg_mapping_request_duration_seconds"),
    }[labels["signal"]](),
    "ai_assist:autoscaler_desired_replicas:signal": lambda t, w, labels: {
        # ceil(queued / 100): at most one while fewer than 100 requests were answered
        "queue": lambda: Expected({(): (0, math.ceil(t.answered / 100))}, "bounds"),
        "gpu": lambda: one(0, "exact") if not t.gpus else NotDriven("GPU load: device check"),
        "latency": lambda: _latency_vote(t, w, labels),
    }[labels["signal"]](),
    "ai_assist:autoscaler_desired_replicas:unstabilised":
        lambda t, w, labels: _desired_replicas(t),
    "ai_assist:autoscaler_desired_replicas": lambda t, w, labels: _desired_replicas(t),
}
# one series a replica: the truth is their sum
AGGREGATE = {"ai_assist:gemini_tokens_used:sum", "ai_assist:gemini_api_calls:sum",
             "ai_assist:gemini_cost_usd:sum", "ai_assist:gemini_cost_usd_per_second:rate1d"}
# the anomaly bands read the hour that ended 10 minutes ago: before this stack existed
BANDS = re.compile(r"^ai_assist:\w+:band_(mean|spread|upper|lower)\d+[smhd]$")
# windowless names (counters so far, instant signals) are read at "end" only
TIMES = ("end", "pause")


# the histograms' bucket and count rates that the quantile rules and panels read
# (observability/histograms.py): summed over every series, the raw histogram's increase
# over the window (the +Inf bucket for the count), over the window
HISTOGRAM_RATES = re.compile(r"^ai_assist:(?P<metric>\w+)_(?P<part>bucket|count):rate\d+[smhd]$")


def aggregated(record: str) -> bool:
    return record in AGGREGATE or HISTOGRAM_RATES.match(record) is not None


def _histogram_rate(record: str, truth: Truth, window_s: float) -> Expected:
    parts = HISTOGRAM_RATES.match(record)
    (buckets,) = truth.buckets(parts["metric"], "", ()).values()
    total = max(count for _, count in buckets) if parts["part"] == "count" else sum(
        count for _, count in buckets)
    return one(total / window_s, "rate")


def truth_for(record: str, labels: dict, truth: Truth, window_s: float):
    if BANDS.match(record):
        return BAND
    if HISTOGRAM_RATES.match(record):
        return _histogram_rate(record, truth, window_s)
    if record not in RECORDED:
        return None
    return RECORDED[record](truth, window_s, labels)


# --- reading the traffic's window ---------------------------------------------------
def eval_times(stack) -> dict[str, float]:
    from tests.harness.proof import traffic_window

    out = {"end": traffic_window(stack)[0]}
    if stack.pause is not None:
        out["pause"] = stack.pause.time + 300 - 2 * stack.scrape_interval_s
    return out


def _scrape_seconds(stack, at: float):
    from tests.harness.proof import _scrape_seconds as read

    return read(stack, at)


def window_truth(stack, when: str, at: float, window_s: float, prom=None,
                 rename=lambda text: text) -> Truth:
    """The truth of the requests in (at - window, at]: all the traffic, or (a 5-minute
    window at "pause") what came after the pause."""
    prom = prom or stack.prom
    tally, outcomes = stack.traffic, Counter(stack.emulator.stats()["by_outcome"])
    start = at - window_s
    first = tally.started_at
    if when == "pause" and start > first:
        assert abs(start - (stack.pause.time - 2 * stack.scrape_interval_s)) < 1, \
            f"a {window_s:g} s window at the pause starts outside it"
        tally = Tally(records=tally.records[stack.pause.records:],
                      tokens_per_call=tally.tokens_per_call, started_at=stack.pause.time,
                      finished_at=tally.finished_at)
        outcomes = outcomes - Counter(stack.pause.outcomes)
        since = start
    else:
        assert start <= first, f"a {window_s:g} s window at {when} cuts the traffic"
        since = None

    def buckets(metric: str, matchers: str, by: tuple[str, ...]):
        selector = f"{metric}_bucket{{{matchers}}}" if matchers else f"{metric}_bucket"
        groups = defaultdict(lambda: defaultdict(float))
        for sign, time in ((1, at), (-1, since)):
            if time is None:
                continue
            for labels, value in prom.query(selector, at=time):
                groups[tuple(labels[b] for b in by)][float(labels["le"])] += sign * value
        return {key: sorted(counts.items()) for key, counts in groups.items()}

    def sample_times(selector: str) -> list[float]:
        data = prom.get("/api/v1/query",
                         query=f"{rename(selector)}[{int(max(window_s, 600))}s]",
                         time=f"{at:.3f}")
        return sorted(float(t) for s in data["result"] for t, _ in s["values"])

    return Truth(tally, outcomes, tally.tokens_per_call, window_s, len(stack.services),
                 stack.model, buckets, instances=tuple(s.target for s in stack.services),
                 health=stack.health, emulator_stats=stack.emulator.stats(), at=at,
                 sample_times=sample_times, scrape_seconds=_scrape_seconds(stack, at))


def check_recorded(stack, rules, prom=None, rename=lambda name: name):
    """Every recording rule of `rules` (dicts: record, labels) read from `prom` (the
    stack's, else a shadow holding backfilled ones) under `rename(record)`, against the
    truth of its window at each time. Returns (problems, counts by how each was judged,
    reasons of the rules not driven here)."""
    prom = prom or stack.prom
    problems, proven, not_driven = [], Counter(), {}
    seen = set()
    for rule in rules:
        record, labels = rule["record"], dict(rule.get("labels") or {})
        key = (record, tuple(sorted(labels.items())))
        if key in seen:
            continue
        seen.add(key)
        window = window_of(record)
        for when, at in eval_times(stack).items():
            if when != "end" and (window is None or window > 86400):
                continue  # a count so far, or a long ratio: "end" holds the same traffic
            w = window or 300.0  # windowless: the signals read 5 minutes
            try:
                truth = window_truth(stack, when, at, w, prom, rename)
                expected = truth_for(record, labels, truth, w)
            except Exception as exc:  # the traffic did not reach the rule's inputs
                problems.append(f"{record}{labels} at {when}: no truth: {exc!r}")
                continue
            if expected is None:
                problems.append(f"{record}{labels}: no truth: add it to "
                                "tests/harness/recorded.py")
                break
            if isinstance(expected, NotDriven):
                not_driven[record] = expected.reason
                break
            name = rename(record)
            matchers = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            selector = f"{name}{{{matchers}}}"
            query = f"sum({selector})" if aggregated(record) else selector
            samples = prom.query(query, at=at)
            if len(samples) != 1:
                problems.append(f"{record}{labels} at {when}: {len(samples)} series")
                continue
            value = samples[0][1]
            # the rule's own evaluation, whose window rate() stretched
            evaluated = own_time(truth, selector.replace(name, record, 1), at)
            found = judge(expected, value, truth, truth.stretch(w, evaluated))
            if found:
                problems.append(f"{record}{labels} at {when} ({w:g} s window): {found}")
            else:
                proven[when] += 1
    return problems, proven, not_driven


def judge(expected: Expected, value: float, truth: Truth, stretch: tuple[float, float]
          ) -> str | None:
    """None when `value` is the truth within what rate() made of it: each replica's
    increase over the window stretched by a factor in `stretch` (Truth.stretch, from the
    scrapes' and the evaluation's timestamps), so a rate or an increase by one in that
    range, a ratio across replicas by up to their quotient either way, a quantile's rank
    by up to twice it. Bounds carry their own."""
    (want,) = expected.values.values()
    lo, hi = stretch
    spread = hi / lo - 1
    if expected.kind == "quantile":
        buckets = truth.buckets(expected.metric, expected.matchers, expected.by)[()]
        low = histogram_quantile(max(0.0, expected.level * (1 - 2 * spread)), buckets)
        high = histogram_quantile(min(1.0, expected.level * (1 + 2 * spread)), buckets)
        ok = low - 1e-9 <= value <= high + 1e-9
        return None if ok else f"{value:g} outside the truth's {low:g}..{high:g}"
    if expected.kind == "bounds":
        low, high = want
    elif expected.kind == "exact":
        low = high = want
    elif expected.kind == "ratio":
        low, high = sorted((want / (1 + spread), want * (1 + spread)))
    else:  # rate, count: the increase stretched
        low, high = sorted((want * lo, want * hi))
    ok = low - 1e-9 <= value <= high + 1e-9
    return None if ok else f"{value:g} outside the truth's {low:g}..{high:g}"
