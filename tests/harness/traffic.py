"""A traffic mix that reaches every path of the service, and a record of the truth.

Faults come from the Gemini emulator's request markers (`[[emulate:...]]`), which the
service forwards inside the prompt; the tallies below are what the dashboards must show.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from ai_assist.frameworks import FRAMEWORKS
from ai_assist.samples import SAMPLES


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)  # success | fallback | error | rejected
    rejected_reasons: Counter = field(default_factory=Counter)
    fallback_reasons: Counter = field(default_factory=Counter)
    matches_by_framework: Counter = field(default_factory=Counter)
    tokens_per_call: dict[str, int] = field(default_factory=dict)  # what the emulator bills
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def answered(self) -> int:
        return sum(self.statuses[s] for s in ("success", "fallback", "error"))

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def _classify(tally: Tally, response: requests.Response) -> None:
    body = response.json()
    if response.status_code == 200:
        tally.statuses["fallback" if body["fallback_used"] else "success"] += 1
        if body["fallback_used"]:
            tally.fallback_reasons[body["fallback_reason"]] += 1
        for match in body["matches"]:
            tally.matches_by_framework[match["framework"]] += 1
    elif response.status_code in (400, 413, 415, 422, 429):
        tally.statuses["rejected"] += 1
        tally.rejected_reasons[body["error"]] += 1
    else:
        tally.statuses["error"] += 1


def map_request(base_url: str, text: str, frameworks=None, top_k: int = 5,
                client_id: str = "traffic", **extra) -> requests.Response:
    body = {"text": text, "top_k": top_k, **extra}
    if frameworks is not None:
        body["frameworks"] = list(frameworks)
    return requests.post(f"{base_url}/v1/esg/map", json=body, timeout=60,
                         headers={"X-Client-ID": client_id})


BAD_REQUESTS = (
    # (description, kwargs for requests.post)
    ("empty_text", {"json": {"text": "   "}}),
    ("unknown_framework", {"json": {"text": "Scope 1 emissions", "frameworks": ["CDP"]}}),
    ("top_k_out_of_range", {"json": {"text": "Scope 1 emissions", "top_k": 0}}),
    ("invalid_json", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}),
    ("unsupported_media_type", {"data": b"text=hello", "headers": {"Content-Type": "text/plain"}}),
    ("invalid_request", {"json": {"text": 42}}),
)


def send_bad_requests(base_url: str, tally: Tally) -> None:
    for _, kwargs in BAD_REQUESTS:
        headers = {"X-Client-ID": "traffic", **kwargs.pop("headers", {})} if "headers" in kwargs \
            else {"X-Client-ID": "traffic"}
        _classify(tally, requests.post(f"{base_url}/v1/esg/map", headers=headers, timeout=30,
                                       **kwargs))
    long_text = "x" * 9000
    _classify(tally, map_request(base_url, long_text))


def drive_mix(base_url: str, tally: Tally, rounds: int = 2, workers: int = 4) -> Tally:
    """Success for every sample and framework, retries, timeouts, repairs, fallbacks."""
    jobs: list[tuple[str, tuple[str, ...] | None]] = []
    for _ in range(rounds):
        for index, (_, text) in enumerate(SAMPLES):
            framework = FRAMEWORKS[index % len(FRAMEWORKS)]
            jobs.append((text, None))
            jobs.append((text, (framework,)))
    scope1 = SAMPLES[0][1]
    for marker in ("503*1", "429*1", "timeout*1", "malformed*1", "fenced", "truncated*1"):
        jobs.append((f"{scope1} [[emulate:{marker}]]", None))
    for marker in ("503", "timeout", "malformed", "empty"):
        jobs.append((f"{scope1} [[emulate:{marker}]]", None))
    tally.started_at = tally.started_at or time.time()
    with ThreadPoolExecutor(workers) as pool:
        for response in pool.map(lambda job: map_request(base_url, job[0], job[1]), jobs):
            _classify(tally, response)
    tally.finished_at = time.time()
    return tally


def drive_errors(base_url: str, tally: Tally, count: int = 3) -> Tally:
    """Against a service with the fallback off, Gemini failures become 5xx errors."""
    for index in range(count):
        text = f"{SAMPLES[index][1]} [[emulate:503]]"
        _classify(tally, map_request(base_url, text))
    tally.finished_at = time.time()
    return tally


def burst(base_url: str, tally: Tally, requests_sent: int) -> Tally:
    """Back-to-back requests from one client, to reach the rate limiter."""
    for _ in range(requests_sent):
        _classify(tally, map_request(base_url, "Board oversight of climate-related risks",
                                     client_id="burst"))
    tally.finished_at = time.time()
    return tally
