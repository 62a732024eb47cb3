"""What every dashboard target must show after the stack's traffic, computed without the
dashboards' queries or the service's counters.

Sources of truth:
- the client's own record of every response (tests/harness/traffic.py): statuses, reasons,
  matches, confidences, texts and frameworks sent, latencies;
- the Gemini emulator's own counters (calls by outcome) and the fixed usage it bills;
- Gemini's prices as Google's price page lists them, written in tests/harness/prices.py
  (not read from ai_assist/pricing.py, the code under test), per token type;
- the plan's contracts written down here (error class and severity per failure, the 0.6
  match level, the catalogue's size per framework);
- for quantiles, the raw histogram buckets read from Prometheus with a plain selector and
  interpolated here as histogram_quantile() does, which checks the panel's aggregation,
  label filters and quantile, and for the end-to-end latency bounds from the client's
  own latencies both ways: the server never measures more than the client waited, nor
  less than that minus what the client adds (the round trip of a request the service
  refuses before the pipeline, timed amid the traffic). The traffic's latency tail puts
  the p50, p95 and p99 in three different buckets (tests/harness/traffic.py).

TRUTH maps (dashboard, panel title, legend or refId) to a function of `Truth` that
returns an `Expected`, or a `NotDriven` with the reason the traffic here cannot drive it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from glob import glob

from ai_assist import __version__
from ai_assist.config import BUNDLED_MODEL  # the stack runs the default model
from ai_assist.frameworks import FRAMEWORKS
from ai_assist.telemetry.metrics import ADMIN_AUTH_FAILURES
from gemini_emulator.config import ANSWERED

from tests.harness import prices
from tests.harness.traffic import MATCH_CONFIDENCE, Tally

# The plan's error classes (2.2): which class, at which severity, a failure is counted as.
FAILURE_ERRORS = {
    "server_error": ("GeminiAPIError", "CRITICAL"),
    "connection_error": ("GeminiAPIError", "CRITICAL"),
    "client_error": ("GeminiAPIError", "CRITICAL"),
    "rate_limited": ("GeminiRateLimitError", "WARNING"),
    "timeout": ("GeminiTimeoutError", "ERROR"),
    "truncated": ("TokenLimitExceededError", "WARNING"),
    "invalid_json": ("InvalidLLMResponseError", "WARNING"),
    "empty_answer": ("InvalidLLMResponseError", "WARNING"),
    "unexpected_error": ("GeminiAPIError", "CRITICAL"),
    "circuit_open": ("GeminiCircuitOpenError", "WARNING"),
    "deadline_exceeded": ("DeadlineExceededError", "ERROR"),
    "overloaded": ("LLMOverloadedError", "WARNING"),
    "no_valid_match": ("InvalidLLMResponseError", "WARNING"),
}
# Requests answered without a Gemini call: the LLM is off, or the circuit breaker is open.
NO_CALL = {"llm_disabled", "circuit_open", "GeminiCircuitOpenError"}
SEVERITY_OF = {error_type: severity for error_type, severity in FAILURE_ERRORS.values()}
# What the emulator's answers are to the service's JSON parser (gemini_emulator docs).
PARSE_RESULT = {"ok": "valid", "fenced": "repaired", "truncated": "repaired",
                "invented": "valid", "malformed": "failed", "empty": "failed"}
# Answers thrown away, by the waste reason their tokens are counted under.
WASTED = {"malformed": "invalid_json", "empty": "empty_answer"}
# gemini_api_calls_total's outcome for each emulator outcome.
CALL_OUTCOME = {**{o: "ok" for o in ANSWERED}, "429": "rate_limited", "500": "server_error",
                "503": "server_error", "400": "client_error", "timeout": "timeout"}
CATALOGUE_SIZE = {"GRI": 128, "ESRS": 86, "SASB": 84, "TCFD": 11}  # the README's counts
SECONDS_PER_MONTH = 30 * 86400
SLO_BUDGET = {"availability": 0.001, "latency": 0.05}
LATENCY_SLO_S = 30
SLO_BASE_WINDOW_S = 300  # the recorded rates the 30-day ratios sum
# Autoscaling (the plan's 3.2, HPA formula): at least one replica; a scale-out needs 100
# queued texts per replica, or a p95 over 30 s (the latency guardrail).
AUTOSCALE_MIN_REPLICAS = 1
QUEUE_PER_REPLICA = 100


@dataclass(frozen=True)
class Expected:
    """Series the target must return: label values (in `by` order) -> value."""
    values: dict[tuple, float]
    kind: str  # exact | ratio | rate | count | quantile | bounds (values: (low, high))
    by: tuple[str, ...] = ()
    # for end-to-end latency quantiles: the client's latencies of the requests the
    # histogram counts, sorted, and the most the client adds to the server's measure
    client: tuple[float, ...] = ()
    client_adds: float = 0.0
    # for quantiles: what the panel claims (its title or legend: p50/p95/p99), and the
    # histogram and label filter the truth reads its raw buckets from
    level: float | None = None
    metric: str = ""
    matchers: str = ""


@dataclass(frozen=True)
class NotDriven:
    reason: str


def one(value: float, kind: str) -> Expected:
    return Expected({(): value}, kind)


@dataclass
class Truth:
    tally: Tally
    outcomes: Counter  # the emulator's calls by outcome
    usage: dict[str, int]  # tokens the emulator bills per answer: input, output, thinking
    window_s: float  # $__rate_interval in seconds at the evaluation
    replicas: int
    model: str
    buckets: Callable[[str, str, tuple[str, ...]], dict[tuple, list[tuple[float, float]]]]
    instances: tuple[str, ...] = ()  # the replicas' scrape targets
    health: list = field(default_factory=list)  # each replica's /health body
    emulator_stats: dict = field(default_factory=dict)  # GET /_emulator/stats
    at: float = 0.0  # when the targets are evaluated
    # selector -> timestamps of its samples before `at` (scrapes, rule evaluations)
    sample_times: Callable[[str], list[float]] = lambda selector: []
    # instance -> its longest scrape (scrape_duration_seconds): a sample is stamped when
    # its scrape starts and seen by rules once the scrape ends
    scrape_seconds: Callable[[str], float] = lambda instance: 0.0
    # GPUs the machine has, seen without NVML (the service's way): the device nodes
    gpus: int = field(default_factory=lambda: len(glob("/dev/nvidia[0-9]*")))

    def stretch(self, window_s: float, at: float | None = None) -> tuple[float, float]:
        """The least and the most any replica's rates over the window that ends at `at`
        (a rule's evaluation) are stretched (`stretch`), from its scrapes' timestamps."""
        at = self.at if at is None else at
        bounds = [stretch(self.sample_times(f'up{{instance="{i}"}}'), at - window_s, at)
                  for i in self.instances]
        return min(lo for lo, _ in bounds), max(hi for _, hi in bounds)

    # --- from the client's records ------------------------------------------------
    @property
    def records(self):
        return self.tally.records

    def statuses(self) -> Counter:
        return self.tally.statuses

    @property
    def answered(self) -> int:
        return self.tally.answered

    def fallbacks(self) -> Counter:
        return self.tally.fallback_reasons

    def failures(self) -> Counter:
        """Gemini failures the pipeline gave up on, by reason: the fallbacks' reasons and
        the 5xx answers' error classes."""
        out = Counter(self.fallbacks())
        del out["llm_disabled"]
        for r in self.records:
            if r.status == "error":
                out[r.body.get("error")] += 1
        return out

    def errors(self) -> Counter:
        """esg_mapping_errors_total by (error_type, severity)."""
        out = Counter()
        for reason, count in self.failures().items():
            if reason in FAILURE_ERRORS:
                out[FAILURE_ERRORS[reason]] += count
            else:  # a 5xx names its class
                out[(reason, SEVERITY_OF.get(reason, "CRITICAL"))] += count
        return out

    def answers(self):
        return [r for r in self.records if r.code == 200]

    def matched(self) -> Counter:
        return Counter("matched" if any(m["confidence"] >= MATCH_CONFIDENCE
                                        for m in r.matches) else "unmatched"
                       for r in self.answers())

    def confidences(self) -> list[float]:
        return [r.body["average_confidence"] for r in self.answers() if r.matches]

    def duplicates(self) -> int:
        """Texts a replica had already mapped (stripped, as the service compares them)."""
        seen, repeats = set(), 0
        for r in self.records:
            if r.reached_pipeline:
                key = (r.service, r.text.strip())
                repeats += key in seen
                seen.add(key)
        return repeats

    def frameworks_asked(self) -> Counter:
        return Counter(f for r in self.records if r.reached_pipeline
                       for f in r.frameworks_asked)

    # --- from the emulator's counters ---------------------------------------------
    @property
    def calls(self) -> int:
        return sum(self.outcomes[o] for o in CALL_OUTCOME)

    def call_outcomes(self) -> Counter:
        out = Counter()
        for outcome, count in self.outcomes.items():
            if outcome in CALL_OUTCOME:
                out[CALL_OUTCOME[outcome]] += count
        return out

    @property
    def answered_calls(self) -> int:
        return sum(self.outcomes[o] for o in ANSWERED)

    def tokens(self) -> dict[str, float]:
        """Billed tokens by gemini_tokens_used_total type: the prompt's cached part
        (usage["cached_input"], when the emulator reports one) apart from the rest."""
        with_text = self.answered_calls - self.outcomes["empty"]
        cached = self.usage.get("cached_input", 0)
        return {"input": (self.usage["input"] - cached) * self.answered_calls,
                "output": self.usage["output"] * with_text,
                "thinking": self.usage["thinking"] * self.answered_calls,
                "cached_input": cached * self.answered_calls}

    def prompt_tokens(self) -> float:
        tokens = self.tokens()
        return tokens["input"] + tokens["cached_input"]

    def wasted(self) -> Counter:
        out = Counter()
        for outcome, reason in WASTED.items():
            output = 0 if outcome == "empty" else self.usage["output"]
            out[reason] += self.outcomes[outcome] * (self.usage["input"] + output
                                                     + self.usage["thinking"])
        return out

    def parses(self) -> Counter:
        return Counter({result: sum(n for o, n in self.outcomes.items()
                                    if PARSE_RESULT.get(o) == result)
                        for result in ("valid", "repaired", "failed")})

    def llm_runs(self) -> int:
        """Requests that called Gemini at least once."""
        failures = self.failures()
        return self.answered - sum(failures[r] for r in NO_CALL) - self.fallbacks()[
            "llm_disabled"]

    def retries(self) -> int:
        """Every call after a request's first one."""
        return self.calls - self.llm_runs()

    def retries_after_unusable_answers(self) -> int:
        unusable = sum(self.outcomes[o] for o in WASTED)
        gave_up = sum(self.fallbacks()[r] for r in set(WASTED.values()))
        return unusable - gave_up

    def cost_usd(self) -> float:
        return prices.usd(self.model, self.tokens())

    # --- helpers -------------------------------------------------------------------
    def per_minute(self, count: float) -> float:
        return count * 60 / self.window_s

    def per_minute_by(self, counts: Counter, label: str, domain) -> Expected:
        return Expected({(k,): self.per_minute(counts.get(k, 0)) for k in domain}, "rate",
                        (label,))

    def quantile(self, q: float, metric: str, matchers: str = "", by: tuple[str, ...] = (),
                 client: bool = False) -> Expected:
        """`client`: the end-to-end latency, which the client's records bound too."""
        groups = self.buckets(metric, matchers, by)
        return Expected({key: histogram_quantile(q, b) for key, b in groups.items()},
                        "quantile", by, level=q, metric=metric, matchers=matchers,
                        client=tuple(self.client_latencies()) if client else (),
                        client_adds=self.client_adds() if client else 0.0)

    def client_latencies(self) -> list[float]:
        """What the client waited for each request the latency histogram counts (those
        that reached the pipeline), sorted."""
        return sorted(r.seconds for r in self.records if r.reached_pipeline)

    def client_quantile(self, q: float) -> float:
        """The client's own q-quantile of answered requests' latency."""
        return client_quantile(q, self.client_latencies())

    def client_adds(self) -> float:
        """The most the client's latency of a request exceeds the server's measure of
        it (HTTP, parsing, validation, the event loop's queue): the slowest round trip
        of a request that the service refused before the pipeline, sent amid the
        traffic (tests/harness/traffic.py drive_mix)."""
        return max(r.seconds for r in self.records if r.status == "rejected")


def stretch(stamps: list[float], start: float, end: float) -> tuple[float, float]:
    """The least and the most rate() and increase() over [start, end], evaluated at
    `end`, stretch a counter's increase between its samples at `stamps` (Prometheus's
    extrapolatedRate, promql/functions.go): by the gap to each of the window's edges
    where it is under 1.1 average intervals, else by half an interval, the start's cut
    short where the counter would reach zero (so anywhere down to nothing); the last
    scrape before `end` may not be in yet when the rule runs, so both. From when
    Prometheus really scraped, not the configured interval."""
    inside = [t for t in stamps if start <= t <= end]
    out = []
    for seen in (inside, inside[:-1]):
        if len(seen) < 2:
            continue
        sampled = seen[-1] - seen[0]
        average = sampled / (len(seen) - 1)

        def edge(gap: float) -> float:
            return gap if gap < 1.1 * average else average / 2
        out.append((sampled + edge(seen[0] - start) + edge(end - seen[-1])) / sampled)
    # at least 1: the start's stretch may be cut to nothing, and a recorded input may have
    # a sample at the evaluation itself
    return 1.0, max(out, default=math.inf)


def client_quantile(q: float, latencies) -> float:
    """The ceil(q n)-th smallest of `latencies` (sorted): the order statistic whose
    bucket holds the q-quantile of a histogram of exactly these values."""
    return latencies[min(len(latencies) - 1, max(0, math.ceil(q * len(latencies)) - 1))]


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile over cumulative (le, count) pairs."""
    buckets = sorted(buckets)
    total = buckets[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    previous_le, previous_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return previous_le
            if le <= 0:
                return le
            return previous_le + (le - previous_le) * (rank - previous_count) / (
                count - previous_count)
        previous_le, previous_count = le, count
    return previous_le


def _requests_by_status(t: Truth) -> Expected:
    from ai_assist.telemetry.metrics import REQUEST_STATUSES

    return t.per_minute_by(t.statuses(), "status", REQUEST_STATUSES)


def _errors_by(t: Truth, labels: tuple[str, ...]) -> Expected:
    from ai_assist.telemetry.metrics import ERROR_TYPES, SEVERITIES

    errors = t.errors()
    if labels == ("severity",):
        values = {(s,): t.per_minute(sum(n for (_, sev), n in errors.items() if sev == s))
                  for s in SEVERITIES}
    else:
        values = {(e, s): t.per_minute(errors.get((e, s), 0))
                  for e in ERROR_TYPES for s in SEVERITIES}
    return Expected(values, "rate", labels)


def _health(t: Truth) -> Expected:
    """The worst replica per component, from what each replica's /health said last."""
    components = {name for report in t.health for name in report["checks"]}
    return Expected({(c,): min(float(report["checks"][c]["ok"]) for report in t.health)
                     for c in components}, "exact", ("component",))


def _circuit(t: Truth) -> Expected:
    """Each replica's breaker as its /health named it: 0 closed, 1 half-open, 2 open."""
    def state(report: dict) -> int:
        detail = report["checks"]["gemini_api"]["detail"]
        return 2 if "breaker open" in detail else 1 if "breaker half-open" in detail else 0
    return Expected({(i,): state(r) for i, r in zip(t.instances, t.health)}, "exact",
                    ("instance",))


def _build_info(t: Truth) -> Expected:
    device = "cuda" if t.gpus else "cpu"
    return Expected({(i, __version__, BUNDLED_MODEL, t.model, device): 1 for i in t.instances},
                    "exact", ("instance", "version", "embedding_model", "llm_model", "device"))


def _gpu(t: Truth, expected: Callable[[Truth], Expected]):
    if not t.gpus:
        return NotDriven("no GPU on this machine: NVML has nothing to report, the panel "
                         "shows its guard's 0 (checked on a GPU machine by the device "
                         "check)")
    return expected(t)


BAND = NotDriven("the anomaly band reads the hour that ended 10 min ago, before this "
                 "stack existed (the recorded band equals numpy's mean +/- 3 population "
                 "standard deviations of that hour, and the alert fires just outside it "
                 "and not just inside it: tests/unit/test_anomaly_bands.py with promtool)")


def _stage_quantile(q: float):
    return lambda t: t.quantile(q, "esg_mapping_duration_seconds", by=("stage",))


def _latency(q: float):
    return lambda t: t.quantile(q, "esg_mapping_request_duration_seconds", client=True)


def _ratio(numerator: Callable[[Truth], float], denominator: Callable[[Truth], float],
           complement: bool = False):
    def expected(t: Truth) -> Expected:
        value = numerator(t) / denominator(t)
        return one(1 - value if complement else value, "ratio")
    return expected


_error_rate = _ratio(lambda t: t.statuses()["error"], lambda t: t.answered)
_fallback_ratio = _ratio(lambda t: t.statuses()["fallback"], lambda t: t.answered)
_match_success = _ratio(lambda t: t.matched()["unmatched"], lambda t: sum(t.matched().values()),
                        complement=True)
_parse_success = _ratio(lambda t: t.parses()["failed"], lambda t: sum(t.parses().values()),
                        complement=True)
_confidence = _ratio(lambda t: sum(t.confidences()), lambda t: len(t.confidences()))
_wasted_share = _ratio(lambda t: sum(t.wasted().values()), lambda t: sum(t.tokens().values()))


def _tokens_by_type(t: Truth) -> Expected:
    return Expected({(k,): t.per_minute(v) for k, v in t.tokens().items()}, "rate", ("type",))


def _avg_output(t: Truth) -> Expected:
    tokens = t.tokens()
    return one((tokens["output"] + tokens["thinking"]) / t.call_outcomes()["ok"], "ratio")


def _prompt_cut(t: Truth) -> Expected:
    from observability.thresholds import BY_KEY

    average = t.prompt_tokens() / t.call_outcomes()["ok"]
    return one(max(0.0, 1 - BY_KEY["avg_input_tokens"].goal / average), "ratio")


def slo_weights(t: Truth, slo: str, until: float | None = None):
    """How often each answered request was counted by the recorded 5-minute rates that
    the long SLO windows sum (no rule reads 30 days of raw series): an evaluation at e
    counts a request when its replica's first scrape that holds it and the scrape before
    that lie in [e - 5 min, e] (increase() starts from the window's first sample). Over
    a real 30 days every request weighs alike but at the window's two ends; here, minutes
    after the traffic, the weights come from when Prometheus really scraped and evaluated
    (its samples' timestamps), evaluations up to `until` (the long ratio's own
    evaluation: a loaded Prometheus evaluates late), never from the configured intervals.
    A replica counts a request between the client's answer less the most the client adds
    and the answer, and an evaluation sees a scrape once it has ended (up to the
    replica's longest scrape after its stamp): each weight as (fewest, most). Returns ((fewest, most), the answered requests, the
    evaluations)."""
    evaluations = [e for e in t.sample_times(f'ai_assist:slo_errors:rate5m{{slo="{slo}"}}')
                   if until is None or e <= until]
    scrapes = {i: t.sample_times(f'up{{instance="{i}"}}') for i in t.instances}
    adds = t.client_adds() if any(r.status == "rejected" for r in t.records) else 0.0

    def weights(r) -> tuple[int, int]:
        stamps = scrapes[r.service.removeprefix("http://")]
        counts = []
        for counted_by in (r.finished - adds, r.finished):
            k = next((k for k, s in enumerate(stamps) if s >= counted_by), None)
            if k is None:
                counts.append(0)
                continue
            seen, before = stamps[k], stamps[k - 1] if k else stamps[k]
            lag = t.scrape_seconds(r.service.removeprefix("http://"))
            counts.append(sum(1 for e in evaluations
                              if seen + lag <= e <= before + SLO_BASE_WINDOW_S))
            counts.append(sum(1 for e in evaluations
                              if seen - 1.1 * (seen - before) <= e < seen + SLO_BASE_WINDOW_S))
        return min(counts), max(counts)

    answered = [r for r in t.records if r.reached_pipeline]
    pairs = [weights(r) for r in answered]
    return ([lo for lo, _ in pairs], [hi for _, hi in pairs]), answered, evaluations


def slo_bad(slo: str, r) -> bool:
    return r.status == "error" if slo == "availability" else r.seconds >= LATENCY_SLO_S


def slo_ratio_bounds(t: Truth, slo: str, until: float | None = None) -> tuple[float, float]:
    """The long windows' error ratio, each request weighed by the 5-minute evaluations
    that counted it (slo_weights), at the bounds: the bad requests at their fewest and the
    good ones at their most, and the other way round; each evaluation's rate stretched
    by up to slo_stretch either way across the replicas."""
    (fewest, most), answered, evaluations = slo_weights(t, slo, until)
    bad = [slo_bad(slo, r) for r in answered]
    out = []
    for bad_w, good_w in ((fewest, most), (most, fewest)):
        b = sum(w for w, x in zip(bad_w, bad) if x)
        g = sum(w for w, x in zip(good_w, bad) if not x)
        out.append(b / (b + g) if b + g else 0.0)
    f = slo_stretch(t, evaluations)
    return min(out) / f, max(out) * f


def slo_stretch(t: Truth, evaluations: list[float]) -> float:
    """How far apart the stretches (`stretch`) of the 5-minute rates' evaluations since
    the traffic began can be: each replica's rate by its own factor, so a ratio across
    replicas and evaluations moves by up to it."""
    stamps = {i: t.sample_times(f'up{{instance="{i}"}}') for i in t.instances}
    begun = [e for e in evaluations if e >= t.tally.started_at]
    bounds = [stretch(s, e - SLO_BASE_WINDOW_S, e) for e in begun for s in stamps.values()]
    return max(hi for _, hi in bounds) / min(lo for lo, _ in bounds) if bounds else 1.0


def own_time(t: Truth, selector: str, before: float | None = None) -> float:
    """When the sample of `selector` that a read at `before` (else the truth's time)
    gets was evaluated."""
    limit = before if before is not None else t.at
    stamps = [s for s in t.sample_times(selector) if s <= limit]
    return max(stamps) if stamps else limit


def budget_bounds(t: Truth, slo: str) -> tuple[float, float]:
    """The 30-day error budget left, 1 - ratio / budget, where the budget's recording
    reads the 30-day ratio as last evaluated, which counts the 5-minute evaluations up
    to its own."""
    at_budget = own_time(t, f'ai_assist:slo_error_budget_remaining:ratio30d{{slo="{slo}"}}')
    until = own_time(t, f'ai_assist:slo_error_ratio:rate30d{{slo="{slo}"}}', at_budget)
    lo, hi = slo_ratio_bounds(t, slo, until)
    return 1 - hi / SLO_BUDGET[slo], 1 - lo / SLO_BUDGET[slo]


def _slo_budget(t: Truth) -> Expected:
    return Expected({(slo,): budget_bounds(t, slo) for slo in ("availability", "latency")},
                    "bounds", ("slo",))


def _slo_burn(t: Truth) -> Expected:
    errors = t.statuses()["error"] / t.answered
    return Expected({("availability",): errors / SLO_BUDGET["availability"],
                     ("latency",): 0.0}, "ratio", ("slo",))


def _fallbacks_by_reason(t: Truth) -> Expected:
    from ai_assist.telemetry.metrics import FALLBACK_REASONS

    return t.per_minute_by(t.fallbacks(), "reason", FALLBACK_REASONS)


def _rejections_by_reason(t: Truth) -> Expected:
    from ai_assist.telemetry.metrics import REJECT_REASONS

    return t.per_minute_by(t.tally.rejected_reasons, "reason", REJECT_REASONS)


def _wasted_by_reason(t: Truth) -> Expected:
    from ai_assist.telemetry.metrics import WASTE_REASONS

    return t.per_minute_by(t.wasted(), "reason", WASTE_REASONS)


def _last_5m(count: Callable[[Truth], float]):
    return lambda t: one(count(t), "count")


def _batch_mean(t: Truth) -> Expected:
    (counts,) = t.buckets("esg_embedding_batch_size", "", ()).values()
    batches = max(count for _, count in counts)
    return one(t.answered / batches, "ratio")


# --- the golden-set canary ---------------------------------------------------------
CANARY_LANGUAGES = ("en", "ko")
CANARY_OFF = NotDriven(
    "the session stack runs without the canary (its Gemini calls and embeddings would "
    "change the emulator's counters and batches that the other truths read); "
    "tests/stack/test_canary_on_prometheus.py proves this target on a stack of its own "
    "against a golden set whose labels are known right or known wrong")


@dataclass(frozen=True)
class CanaryTruth:
    """A canary stack's truth: the golden set's passages, each labelled right (a correct
    disclosure the pipeline ranks first) or deliberately wrong (an unrelated disclosure
    that no answer to it can hold), and the runs, counted by the emulator's calls (one
    Gemini call per check, none retried)."""
    right: dict[str, int]  # language -> passages labelled right
    wrong: dict[str, int]  # language -> passages labelled wrong
    emulator_calls: int

    @property
    def runs(self) -> int:
        size = sum(self.right.values()) + sum(self.wrong.values())
        assert self.emulator_calls % size == 0, "a run was cut short or a call retried"
        return self.emulator_calls // size

    def hit_ratio(self) -> Expected:
        return Expected({(lang,): self.right[lang] / (self.right[lang] + self.wrong[lang])
                         for lang in CANARY_LANGUAGES}, "ratio", ("language",))

    def checks(self) -> Expected:
        return Expected({(lang,): self.runs * (self.right[lang] + self.wrong[lang])
                         for lang in CANARY_LANGUAGES}, "count", ("language",))


CANARY_TRUTH: dict[tuple[str, str, str], Callable[[CanaryTruth], Expected]] = {
    ("quality", "Golden-set canary hit rate", "{{language}}"): CanaryTruth.hit_ratio,
    ("quality", "Golden-set canary checks", "{{language}}"): CanaryTruth.checks,
}


# --- the response cache -------------------------------------------------------------
CACHE_OFF = NotDriven(
    "the session stack runs without the response cache (a hit would skip the Gemini calls "
    "and embeddings that the other truths read): no lookup, so the target shows its idle "
    "guard's 0; tests/stack/test_response_cache_on_prometheus.py proves it on two replicas "
    "sharing a real Redis, against a mix of known repeats and a Redis outage")


@dataclass(frozen=True)
class CacheTruth:
    """A cache stack's truth, from the client's tally of X-Cache answers and the
    emulator's tokens billed for each miss (the answer each later hit serves again)."""
    hits: int
    misses: int
    saved: dict[str, float]  # token type -> tokens the hits' answers had been billed
    model: str
    errors: dict[str, int]  # operation -> failed Redis operations (requests in the outage)
    window_s: float  # $__rate_interval in seconds at the evaluation

    def per_minute(self, count: float) -> float:
        return count * 60 / self.window_s

    def hit_ratio(self) -> Expected:
        return one(self.hits / (self.hits + self.misses), "ratio")

    def lookups(self) -> Expected:
        return Expected({("hit",): self.per_minute(self.hits),
                         ("miss",): self.per_minute(self.misses)}, "rate", ("result",))

    def tokens_saved(self) -> Expected:
        return Expected({(kind,): self.per_minute(n) for kind, n in self.saved.items()},
                        "rate", ("type",))

    def usd_saved(self) -> Expected:
        usd = prices.usd(self.model, self.saved)
        return Expected({(self.model,): usd / self.window_s * 3600}, "rate", ("model",))

    def usd_saved_by_type(self) -> Expected:
        """The USD per hour the hits saved, one token type at a time, each at that
        type's own price from Google's page (tests/harness/prices.py)."""
        return Expected({(kind,): prices.usd(self.model, {kind: n}) / self.window_s * 3600
                         for kind, n in self.saved.items()}, "rate", ("type",))

    def storage_errors(self) -> Expected:
        return Expected({(op,): self.per_minute(n) for op, n in self.errors.items()}, "rate",
                        ("operation",))


CACHE_TRUTH: dict[tuple[str, str, str], Callable[[CacheTruth], Expected]] = {
    ("cost", "Cache hit ratio", "hit ratio"): CacheTruth.hit_ratio,
    ("cost", "Cache lookups by result", "{{result}}"): CacheTruth.lookups,
    ("cost", "Tokens saved by the cache", "{{type}}"): CacheTruth.tokens_saved,
    ("cost", "Cost saved by the cache per hour", "{{model}}"): CacheTruth.usd_saved,
    ("cost", "Cache storage errors", "{{operation}}"): CacheTruth.storage_errors,
}


def _desired_replicas(t: Truth) -> Expected | NotDriven:
    """No replica can have queued more texts than requests reached the pipeline (100 or
    fewer: a queue vote of at most one replica), and every request took less than 30 s /
    replicas (a latency vote of at most one), so at no time of the stabilisation window
    did a signal ask for a second replica: the minimum."""
    slowest = max(r.seconds for r in t.records if r.reached_pipeline)
    if t.replicas * slowest / LATENCY_SLO_S > 1 or t.answered > QUEUE_PER_REPLICA:
        return NotDriven(f"the traffic could have made a signal vote (slowest request "
                         f"{slowest:.1f} s, {t.answered} requests answered)")
    return one(AUTOSCALE_MIN_REPLICAS, "exact")


TRUTH: dict[tuple[str, str, str], Callable[[Truth], Expected | NotDriven]] = {
    # --- cost ------------------------------------------------------------------------
    # the recorded spend rate over a fixed day, which holds the whole traffic
    ("cost", "Projected monthly cost", "USD / month"):
        lambda t: one(t.cost_usd() / 86400 * SECONDS_PER_MONTH, "count"),
    ("cost", "Average input tokens", "Average input tokens"):
        lambda t: one(t.prompt_tokens() / t.call_outcomes()["ok"], "ratio"),
    ("cost", "Average output tokens", "Average output tokens"): _avg_output,
    ("cost", "Token efficiency", "efficiency"):
        lambda t: one(1 - _wasted_share(t).values[()], "ratio"),
    ("cost", "Daily token usage", "Daily token usage"):
        lambda t: one(sum(t.tokens().values()), "count"),
    ("cost", "API requests per day (RPD)", "API requests per day (RPD)"):
        lambda t: one(t.calls, "count"),
    ("cost", "Requests per day", "requests"): lambda t: one(t.tally.total, "count"),
    ("cost", "Tokens without a price", "tokens / min"):
        lambda t: NotDriven("every call used a priced model (settings refuse a model "
                            "without a price); tokens of an unpriced model would show here"),
    ("cost", "Advice: shorten prompts by", "cut needed"): _prompt_cut,
    ("cost", "Advice: a response cache would save", "repeat requests"):
        _ratio(lambda t: t.duplicates(), lambda t: t.answered),
    ("cost", "Advice: tokens wasted on failed parses", "wasted share"): _wasted_share,
    ("cost", "Advice: re-calls after unusable answers", "re-call share"):
        _ratio(lambda t: t.retries_after_unusable_answers(), lambda t: t.calls),
    ("cost", "Tokens by type", "{{type}}"): _tokens_by_type,
    ("cost", "Cost per hour by model", "{{model}}"):
        lambda t: Expected({(t.model,): t.cost_usd() / t.window_s * 3600}, "rate", ("model",)),
    ("cost", "Wasted tokens by reason", "{{reason}}"): _wasted_by_reason,
    # the session stack runs without the response cache: no lookup, no error
    ("cost", "Cache hit ratio", "hit ratio"): lambda t: CACHE_OFF,
    ("cost", "Cache lookups by result", "{{result}}"):
        lambda t: Expected({(r,): 0 for r in ("hit", "miss")}, "exact", ("result",)),
    ("cost", "Tokens saved by the cache", "{{type}}"): lambda t: CACHE_OFF,
    ("cost", "Cost saved by the cache per hour", "{{model}}"): lambda t: CACHE_OFF,
    ("cost", "Cache storage errors", "{{operation}}"):
        lambda t: Expected({(op,): 0 for op in ("get", "set")}, "exact", ("operation",)),
    # --- health ----------------------------------------------------------------------
    ("health", "Health per component", "{{component}}"): _health,
    ("health", "Uptime (scrapes)", "uptime"): lambda t: one(1, "exact"),
    ("health", "Gemini circuit breaker", "{{instance}}"): _circuit,
    ("health", "Gemini calls in flight", "in flight"): lambda t: one(0, "exact"),
    ("health", "Requests without a rate-limit check", "unchecked / min"):
        lambda t: NotDriven("the stack's replicas keep their limits in memory (no Redis); "
                            "tests/service/test_identity_ratelimit.py stops a real Redis "
                            "under load"),
    ("health", "Admin-key failures", "{{outcome}}"):
        lambda t: t.per_minute_by(Counter(), "outcome", ADMIN_AUTH_FAILURES),  # none sent
    ("cost", "Retries refused by the retry budget", "{{reason}}"):
        lambda t: NotDriven("how many of the mix's unusable answers the budget refused "
                            "depends on their order across the replicas; "
                            "tests/service/test_unusable_answers.py counts the calls a Gemini "
                            "answering garbage costs with the emulator's own counter"),
    ("health", "GPU sampling errors", "errors / min"):
        lambda t: NotDriven("no GPU here, so NVML is never read; "
                            "tests/service/test_health_resilience.py makes a fake NVML fail"),
    ("health", "Replicas up", "up"): lambda t: one(t.replicas, "exact"),
    ("health", "Build info", "A"): _build_info,
    ("health", "Availability", "Availability"):
        lambda t: one(1 - _error_rate(t).values[()], "ratio"),
    ("health", "Error rate", "Error rate"): _error_rate,
    ("health", "Retry ratio", "Retry ratio"): _ratio(lambda t: t.retries(), lambda t: t.calls),
    ("health", "Timeout ratio", "Timeout ratio"):
        _ratio(lambda t: t.call_outcomes()["timeout"], lambda t: t.calls),
    ("health", "SLO error budget left (30 d)", "{{slo}}"): _slo_budget,
    ("health", "SLO burn rate (1h)", "{{slo}}"): _slo_burn,
    ("health", "Errors by type and severity", "{{error_type}} ({{severity}})"):
        lambda t: _errors_by(t, ("error_type", "severity")),
    ("health", "Rejected requests by reason", "{{reason}}"): _rejections_by_reason,
    ("health", "Errors per minute by severity", "{{severity}}"):
        lambda t: _errors_by(t, ("severity",)),
    ("health", "GPU devices", "GPUs"): lambda t: one(t.gpus, "exact"),
    ("health", "GPU utilization", "{{instance}} GPU {{gpu}}"):
        lambda t: _gpu(t, lambda t: NotDriven("utilisation under load is the device check's")),
    ("health", "GPU memory", "used {{gpu}}"):
        lambda t: _gpu(t, lambda t: NotDriven("memory in use is the device check's")),
    ("health", "GPU memory", "total {{gpu}}"):
        lambda t: _gpu(t, lambda t: NotDriven("memory installed is the device check's")),
    ("health", "Catalogue size by framework", "{{framework}}"):
        lambda t: Expected({(f,): CATALOGUE_SIZE[f] for f in FRAMEWORKS}, "exact",
                           ("framework",)),
    # --- quality ---------------------------------------------------------------------
    ("quality", "Average confidence", "Average confidence"): _confidence,
    ("quality", "Match success rate", "Match success rate"): _match_success,
    ("quality", "JSON parse success rate", "JSON parse success rate"): _parse_success,
    ("quality", "Fallback ratio", "Fallback ratio"): _fallback_ratio,
    ("quality", "Match distribution by framework", "{{framework}}"):
        lambda t: Expected({(f,): t.tally.matches_by_framework[f]
                            / sum(t.tally.matches_by_framework.values()) for f in FRAMEWORKS},
                           "ratio", ("framework",)),
    ("quality", "Matches per minute by framework", "{{framework}}"):
        lambda t: t.per_minute_by(t.tally.matches_by_framework, "framework", FRAMEWORKS),
    ("quality", "Requests per minute by framework asked", "{{framework}}"):
        lambda t: t.per_minute_by(t.frameworks_asked(), "framework", FRAMEWORKS),
    ("quality", "Vector search top similarity (p50, p95)", "p50"):
        lambda t: t.quantile(0.5, "esg_vector_search_top_similarity_ratio"),
    ("quality", "Vector search top similarity (p50, p95)", "p95"):
        lambda t: t.quantile(0.95, "esg_vector_search_top_similarity_ratio"),
    ("quality", "JSON parse results", "{{result}}"):
        lambda t: t.per_minute_by(t.parses(), "result", ("valid", "repaired", "failed")),
    ("quality", "Fallbacks by reason", "{{reason}}"): _fallbacks_by_reason,
    ("quality", "Quality ratios over time", "Match success rate"): _match_success,
    ("quality", "Quality ratios over time", "JSON parse success rate"): _parse_success,
    ("quality", "Quality ratios over time", "Fallback ratio"): _fallback_ratio,
    ("quality", "Average confidence over time", "average confidence"): _confidence,
    # the session stack runs without the canary: 0 checks, and no hit rate to prove
    ("quality", "Golden-set canary hit rate", "{{language}}"): lambda t: CANARY_OFF,
    ("quality", "Golden-set canary checks", "{{language}}"):
        lambda t: Expected({(lang,): 0 for lang in CANARY_LANGUAGES}, "exact", ("language",)),
    # --- real-time -------------------------------------------------------------------
    ("realtime", "Response time (p95)", "Response time (p95)"): _latency(0.95),
    ("realtime", "Response time (p99)", "Response time (p99)"): _latency(0.99),
    ("realtime", "Throughput", "Throughput"): lambda t: one(t.per_minute(t.answered), "rate"),
    ("realtime", "Error rate", "Error rate"): _error_rate,
    ("realtime", "Daily token usage", "Daily token usage"):
        lambda t: one(sum(t.tokens().values()), "count"),
    ("realtime", "Requests in the last 5 minutes", "Requests"): _last_5m(lambda t: t.tally.total),
    ("realtime", "Requests in the last 5 minutes", "Success"):
        _last_5m(lambda t: t.statuses()["success"]),
    ("realtime", "Requests in the last 5 minutes", "Fallback"):
        _last_5m(lambda t: t.statuses()["fallback"]),
    ("realtime", "Requests in the last 5 minutes", "Error"):
        _last_5m(lambda t: t.statuses()["error"]),
    ("realtime", "Requests in the last 5 minutes", "Rejected"):
        _last_5m(lambda t: t.statuses()["rejected"]),
    ("realtime", "Requests in the last 5 minutes", "Cancelled"):
        _last_5m(lambda t: t.statuses()["cancelled"]),  # the client never hung up
    ("realtime", "Requests in the last 5 minutes", "Retries"): _last_5m(lambda t: t.retries()),
    ("realtime", "Requests in the last 5 minutes", "Timeouts"):
        _last_5m(lambda t: t.call_outcomes()["timeout"]),
    ("realtime", "Response time (p95, p99) with anomaly band", "Response time (p95)"):
        _latency(0.95),
    ("realtime", "Response time (p95, p99) with anomaly band", "p99"): _latency(0.99),
    ("realtime", "Response time (p95, p99) with anomaly band",
     "Response time (p95) band upper"): lambda t: BAND,
    ("realtime", "Response time (p95, p99) with anomaly band",
     "Response time (p95) band lower"): lambda t: BAND,
    ("realtime", "Latency per stage (p50, p95)", "{{stage}} p50"): _stage_quantile(0.5),
    ("realtime", "Latency per stage (p50, p95)", "{{stage}} p95"): _stage_quantile(0.95),
    ("realtime", "Embedding time (p95)", "Embedding time (p95)"):
        lambda t: t.quantile(0.95, "esg_mapping_duration_seconds", 'stage="embedding"'),
    ("realtime", "Vector search time (p95)", "Vector search time (p95)"):
        lambda t: t.quantile(0.95, "esg_mapping_duration_seconds", 'stage="vector_search"'),
    ("realtime", "LLM call time (p95)", "LLM call time (p95)"):
        lambda t: t.quantile(0.95, "esg_mapping_duration_seconds", 'stage="llm"'),
    ("realtime", "Throughput by status", "{{status}}"): _requests_by_status,
    ("realtime", "Error rate with anomaly band", "Error rate"): _error_rate,
    ("realtime", "Error rate with anomaly band", "Error rate band upper"): lambda t: BAND,
    ("realtime", "Error rate with anomaly band", "Error rate band lower"): lambda t: BAND,
    ("realtime", "Requests in progress", "in progress"): lambda t: one(0, "exact"),
    ("realtime", "Embedding queue depth", "queued texts"): lambda t: one(0, "exact"),
    ("realtime", "Replicas: desired and up", "desired"): _desired_replicas,
    ("realtime", "Replicas: desired and up", "up"): lambda t: one(t.replicas, "exact"),
    ("realtime", "Embedding batch size", "mean"): _batch_mean,
    ("realtime", "Embedding batch size", "p95"):
        lambda t: t.quantile(0.95, "esg_embedding_batch_size"),
}


# The Quality dashboard's "Experiments (A/B)" row (per variant).
from tests.harness.experiment_truth import EXPERIMENT_TRUTH

TRUTH.update(EXPERIMENT_TRUTH)
