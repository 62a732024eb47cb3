"""A traffic mix that reaches every path of the service, and a record of the truth.

Faults come from the Gemini emulator's request markers (`[[emulate:...]]`), which the
service forwards inside the prompt. Every response is kept as a `Sent` record; the
figures the dashboards must show are derived from these records on the client side
(tests/harness/truth.py), never from the service's own counters.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from ai_assist.frameworks import FRAMEWORKS
from ai_assist.samples import SAMPLES

# The plan's critical confidence level: an answer "matches" when one disclosure reaches it.
MATCH_CONFIDENCE = 0.6
REJECTED_CODES = (400, 401, 413, 415, 422, 429, 431)


@dataclass(frozen=True)
class Sent:
    """One request as the client saw it."""
    service: str  # base URL
    code: int
    body: dict
    seconds: float  # client-side latency
    text: str | None  # the text field as sent (None when the body was not JSON text)
    frameworks: tuple[str, ...] | None  # as requested; None asks for all
    variant: str | None = None  # the experiment variant the answer named (its header)
    finished: float = 0.0  # when the answer came (epoch seconds)

    @property
    def status(self) -> str:
        """esg_mapping_requests_total's status, as the client can tell it."""
        if self.code == 200:
            return "fallback" if self.body["fallback_used"] else "success"
        return "rejected" if self.code in REJECTED_CODES else "error"

    @property
    def reached_pipeline(self) -> bool:
        return self.status in ("success", "fallback", "error")

    @property
    def frameworks_asked(self) -> tuple[str, ...]:
        return tuple(f.upper() for f in self.frameworks) if self.frameworks else FRAMEWORKS

    @property
    def matches(self) -> list[dict]:
        return self.body.get("matches", []) if self.code == 200 else []


@dataclass
class Tally:
    records: list[Sent] = field(default_factory=list)
    tokens_per_call: dict[str, int] = field(default_factory=dict)  # what the emulator bills
    started_at: float = 0.0
    finished_at: float = 0.0

    def add(self, record: Sent) -> None:
        self.records.append(record)

    @property
    def statuses(self) -> Counter:
        return Counter(r.status for r in self.records)

    @property
    def rejected_reasons(self) -> Counter:
        return Counter(r.body.get("error") for r in self.records if r.status == "rejected")

    @property
    def fallback_reasons(self) -> Counter:
        return Counter(r.body["fallback_reason"] for r in self.records
                       if r.status == "fallback")

    @property
    def matches_by_framework(self) -> Counter:
        return Counter(m["framework"] for r in self.records for m in r.matches)

    @property
    def answered(self) -> int:
        return sum(1 for r in self.records if r.reached_pipeline)

    @property
    def total(self) -> int:
        return len(self.records)


def _send(tally: Tally, service: str, text, frameworks, **kwargs) -> requests.Response:
    started = time.perf_counter()
    response = requests.post(f"{service}/v1/esg/map", timeout=120, **kwargs)
    elapsed = time.perf_counter() - started
    try:
        body = response.json()
    except ValueError:
        body = {}
    tally.add(Sent(service, response.status_code, body if isinstance(body, dict) else {},
                   elapsed, text, tuple(frameworks) if frameworks is not None else None,
                   response.headers.get("X-Experiment-Variant"), time.time()))
    return response


def map_request(tally: Tally, base_url: str, text: str, frameworks=None, top_k: int = 5,
                client_id: str = "traffic", variant: str | None = None,
                **extra) -> requests.Response:
    body = {"text": text, "top_k": top_k, **extra}
    if frameworks is not None:
        body["frameworks"] = list(frameworks)
    headers = {"X-Client-ID": client_id}
    if variant is not None:  # forces the experiment variant
        headers["X-Experiment-Variant"] = variant
    return _send(tally, base_url, text, frameworks, json=body, headers=headers)


BAD_REQUESTS = (
    # (description, kwargs for requests.post)
    ("empty_text", {"json": {"text": "   "}}),
    ("unknown_framework", {"json": {"text": "Scope 1 emissions", "frameworks": ["CDP"]}}),
    ("top_k_out_of_range", {"json": {"text": "Scope 1 emissions", "top_k": 0}}),
    ("invalid_json", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}),
    ("unsupported_media_type", {"data": b"text=hello", "headers": {"Content-Type": "text/plain"}}),
    ("invalid_request", {"json": {"text": 42}}),
    ("text_too_long", {"json": {"text": "x" * 9000}}),
)


def _send_bad(base_url: str, tally: Tally, kwargs: dict) -> None:
    kwargs = dict(kwargs)
    headers = {"X-Client-ID": "traffic", **kwargs.pop("headers", {})}
    _send(tally, base_url, None, None, headers=headers, **kwargs)


def send_bad_requests(base_url: str, tally: Tally) -> None:
    for _, kwargs in BAD_REQUESTS:
        _send_bad(base_url, tally, kwargs)


# Markers whose prompts fail first and then succeed, and markers that fail every call.
# Each also names what the emulator answers, so the truth can be derived per call.
RECOVERING_MARKERS = ("503*1", "429*1", "timeout*1", "malformed*1", "fenced", "truncated*1")
FAILING_MARKERS = ("503", "timeout", "malformed", "empty", "400")


def drive_mix(base_url: str, tally: Tally, rounds: int = 2, workers: int = 4,
              bad_requests: bool = False) -> Tally:
    """Success for every sample and framework, retries, timeouts, repairs, fallbacks;
    with `bad_requests`, the requests the service refuses before the pipeline go in among
    them (one every few jobs), so their round trips, which are all the client adds to a
    request, are timed under the same load (Truth.client_adds)."""
    jobs: list = []
    for _ in range(rounds):
        for index, (_, text) in enumerate(SAMPLES):
            framework = FRAMEWORKS[index % len(FRAMEWORKS)]
            jobs.append(lambda text=text: map_request(tally, base_url, text))
            jobs.append(lambda text=text, framework=framework:
                        map_request(tally, base_url, text, (framework,)))
    scope1 = SAMPLES[0][1]
    for marker in RECOVERING_MARKERS + FAILING_MARKERS:
        jobs.append(lambda marker=marker:
                    map_request(tally, base_url, f"{scope1} [[emulate:{marker}]]"))
    if bad_requests:
        step = len(jobs) // len(BAD_REQUESTS)
        for n, (_, kwargs) in enumerate(BAD_REQUESTS):
            jobs.insert(n * (step + 1) + step // 2,
                        lambda kwargs=kwargs: _send_bad(base_url, tally, kwargs))
    tally.started_at = tally.started_at or time.time()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda job: job(), jobs))
    tally.finished_at = time.time()
    return tally


def drive_errors(base_url: str, tally: Tally, count: int = 3) -> Tally:
    """Against a service with the fallback off, Gemini failures become 5xx errors."""
    for index in range(count):
        map_request(tally, base_url, f"{SAMPLES[index][1]} [[emulate:503]]")
    tally.finished_at = time.time()
    return tally


def separate_fallbacks_from_errors(base_url: str, tally: Tally, gap: int = 2) -> Tally:
    """Against a service with the fallback on, Gemini failures until the traffic has `gap`
    more fallbacks than errors, so a query that counts one for the other reads another
    value (how many of each the mix gives varies with the machine's load: a timeout is an
    error where the fallback is off). Later traffic only adds fallbacks, never errors."""
    for index in range(max(0, tally.statuses["error"] + gap - tally.statuses["fallback"])):
        map_request(tally, base_url, f"{SAMPLES[index % len(SAMPLES)][1]} [[emulate:503]]")
    tally.finished_at = time.time()
    return tally


def burst(base_url: str, tally: Tally, requests_sent: int) -> Tally:
    """Back-to-back requests from one client, to reach the rate limiter."""
    for _ in range(requests_sent):
        map_request(tally, base_url, "Board oversight of climate-related risks",
                    client_id="burst")
    tally.finished_at = time.time()
    return tally


def drive_experiment(base_url: str, tally: Tally, experiment: dict,
                     workers: int = 4) -> Tally:
    """A/B traffic as the assignment places it: the fewest requests that bring every
    variant's count of answered requests (by any replica, earlier traffic included) to
    its weight's share, each naming a company_id that the experiment assigns to the
    variant it should fill (forcing with X-Experiment-Variant is for QA keys, and forced
    requests are left out of the comparison). So the split matches the weights (no
    sample-ratio mismatch) while the other proofs' traffic mix is diluted as little as
    possible."""
    companies = experiment_companies(experiment)
    counts = Counter(r.variant for r in tally.records if r.variant in companies)
    jobs = [(SAMPLES[i % len(SAMPLES)][1], companies[v]) for v, n in
            experiment_top_up(counts, experiment).items() for i in range(n)]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda job: map_request(tally, base_url, job[0], company_id=job[1]),
                      jobs))
    tally.finished_at = time.time()
    return tally


def experiment_companies(experiment: dict) -> dict[str, str]:
    """variant -> a company_id that the experiment's assignment puts in it."""
    from ai_assist.experiments import assign, parse_experiment

    parsed = parse_experiment(experiment)
    companies: dict[str, str] = {}
    for n in range(10_000):
        company = f"ab-company-{n}"
        companies.setdefault(assign(parsed, f"company:{company}").name, company)
        if len(companies) == len(experiment["variants"]):
            break
    return companies


def experiment_top_up(counts: Counter, experiment: dict) -> dict[str, int]:
    """variant -> requests drive_experiment adds to bring `counts` to the weights."""
    weights = {v["name"]: v["weight"] for v in experiment["variants"]}
    total = sum(weights.values())
    scale = max(counts[v] / (w / total) for v, w in weights.items())
    return {v: max(0, round(scale * w / total) - counts[v]) for v, w in weights.items()}


# --- a pause -----------------------------------------------------------------------------
# Recording rules over a window shorter than the traffic's whole span are told apart from
# rules over a longer one only where the window cuts the traffic: a pause of a few scrapes
# with no request in flight lets a 5-minute window start inside it (5 minutes later) and
# hold exactly what came after, whose mix differs from the whole (tests/harness/recorded.py).
PAUSE_SCRAPES = 4


@dataclass(frozen=True)
class Pause:
    """The traffic's pause: when it ended, how many records and which emulator outcomes
    came before it."""
    time: float
    records: int
    outcomes: dict


def pause(prom, instances, tally: Tally, emulator, scrape_interval_s: float) -> Pause:
    """Waits, sending nothing, until Prometheus has scraped every replica PAUSE_SCRAPES
    times after the last answer (each replica counts a request before the client gets
    its answer), and returns the pause."""
    from tests.harness.processes import wait_until

    last = max(r.finished for r in tally.records)

    def scraped_after() -> bool:
        stamps = {labels["instance"]: value
                  for labels, value in prom.query('timestamp(up)') if "instance" in labels}
        return all(stamps.get(i, 0) > last + PAUSE_SCRAPES * scrape_interval_s
                   for i in instances)

    wait_until(scraped_after, 60, "scrapes after the last answer before the pause",
               interval=0.1)
    return Pause(time.time(), len(tally.records), dict(emulator.stats()["by_outcome"]))


# --- a latency tail --------------------------------------------------------------------
# The mix's own latencies (tens of milliseconds to a few seconds, as loaded as the machine
# is) fill the request histogram's buckets up to 5 s. A tail puts the p95 and the p99 in
# buckets of their own, so a quantile target computed at another level than it claims
# lands outside the truth's bounds (tests/harness/proof.py): "slow" requests are
# answered 429 once with a retry delay that the service honours (RetryInfo), then
# succeed (5 s < one delay + the pipeline < 10 s), "slowest" ones twice (10 s < two
# delays + the pipeline < 15 s: under 30 s / 2 replicas, so no autoscaling vote).
TAIL_RETRY_DELAY_S = 5.5
# The rank error the proofs allow either way, as a share of the level (2 r of
# proof.tolerance; the traffic with its lead-in is longer than 100 s, so r <= 0.012):
# the tail is sized so that the p95 stays among the slow requests across it.
TAIL_LEVEL_MARGIN = 0.025


def latency_tail(answered: int, counts: Counter, experiment: dict,
                 variant: str) -> tuple[int, int]:
    """(slow, slowest) requests that put the client's p99 among the slowest and its p95,
    at levels 0.95 x (1 -/+ TAIL_LEVEL_MARGIN), among the slow, after the experiment's
    top-up (drive_experiment, run next) adds its requests. `answered`: the requests that
    reached the pipeline so far; `counts`: answers by experiment variant so far; the
    tail's requests name a company in `variant`."""
    def ranks(level: float, n: int) -> int:  # 1-based, as Truth.client_quantile reads
        return min(n, max(1, math.ceil(level * n)))

    for slow in range(1, answered):
        for slowest in (1, 2, 3):
            added = sum(experiment_top_up(counts + Counter({variant: slow + slowest}),
                                          experiment).values())
            n = answered + slow + slowest + added
            bulk = n - slow - slowest
            if (ranks(0.99, n) > bulk + slow
                    and ranks(0.95 * (1 - TAIL_LEVEL_MARGIN), n) > bulk
                    and ranks(0.95 * (1 + TAIL_LEVEL_MARGIN), n) <= bulk + slow
                    and ranks(0.5 * (1 + TAIL_LEVEL_MARGIN), n) <= bulk):
                return slow, slowest
    raise ValueError(f"no latency tail fits {answered} answered requests")


def drive_latency_tail(base_url: str, tally: Tally, emulator, experiment: dict) -> Tally:
    """The tail (see `latency_tail`), all at once, each request a text of its own (the
    emulator counts a marker per exact prompt), naming a company in the experiment's
    first variant; the emulator's retry delay is set for the tail only."""
    companies = experiment_companies(experiment)
    variant = experiment["variants"][0]["name"]
    counts = Counter(r.variant for r in tally.records if r.variant in companies)
    slow, slowest = latency_tail(tally.answered, counts, experiment, variant)
    jobs = [f"{SAMPLES[i % len(SAMPLES)][1]} (tail {i}) [[emulate:429*{1 + (i < slowest)}]]"
            for i in range(slow + slowest)]
    emulator.configure(retry_delay_s=TAIL_RETRY_DELAY_S)
    try:
        with ThreadPoolExecutor(len(jobs)) as pool:
            list(pool.map(lambda text: map_request(tally, base_url, text,
                                                   company_id=companies[variant]), jobs))
    finally:
        emulator.configure(retry_delay_s=None)
    tally.finished_at = time.time()
    return tally


class Background:
    """Mapping requests back to back in a thread, round-robin over `urls`, until the
    `with` block ends; every answer recorded in `tally` (a 5xx is recorded, not raised)."""

    def __init__(self, *urls: str, client_id: str = "background") -> None:
        import threading

        self.urls, self.client_id, self.sent, self.tally = urls, client_id, 0, Tally()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                map_request(self.tally, self.urls[self.sent % len(self.urls)],
                            SAMPLES[self.sent % len(SAMPLES)][1], client_id=self.client_id)
            except requests.RequestException:  # a replica that was stopped on purpose
                pass
            self.sent += 1

    def __enter__(self) -> "Background":
        self.tally.started_at = time.time()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(70)
        self.tally.finished_at = time.time()
