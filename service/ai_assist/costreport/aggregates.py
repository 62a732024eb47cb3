"""What the cost report needs, read from Prometheus over one window (so it sums every
replica), and kept as plain JSON: a report can be rendered again from the file alone
(`--from-aggregates`), which is how the committed example is built without a stack."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ai_assist.telemetry import metrics as M
from ai_assist.telemetry.traffic import CANARY
from observability.cost import COST_RATE_RECORD
from observability.durations import duration, seconds
from observability.promapi import Prometheus
from observability.promql import Scope, sum_increase, total
from observability.selectors import SELECTORS

ANSWERED = 'status=~"success|fallback|error"'
USER_TOKENS = f'source!="{CANARY}"'  # also the series of builds without the label
TREND_POINTS = 28  # points of the tokens-per-request trend over the window


@dataclass
class Aggregates:
    window: str
    window_s: float
    end: float  # unix time the window ends
    tokens: dict[str, dict[str, float]]  # model -> token type -> tokens billed
    requests: dict[str, float]  # status -> requests
    gemini_calls: dict[str, float]  # outcome -> calls (every model)
    retries: dict[str, float]  # reason -> Gemini calls repeated
    wasted: dict[str, float]  # reason -> tokens billed for answers thrown away
    duplicates: float  # answered requests whose text the replica had mapped recently
    cache_lookups: dict[str, float]  # hit / miss
    cache_evictions: float
    cache_tokens_saved: dict[str, dict[str, float]]  # model -> type -> tokens
    recorded_cost_usd_per_s: float | None  # the recording rule's value at `end` (last 1d)
    trend: list[tuple[float, float, float]] = field(default_factory=list)  # (t, tokens, requests)
    # candidates handed to the LLM per call: the service's setting (the report cannot see
    # it in Prometheus) and the share of a prompt's characters they take (from the real
    # prompt builder and catalogue): see analysis.candidate_share
    candidates: int = 12
    candidate_share: float | None = None
    # per experiment variant, when one ran: its candidates, prompt tokens and requests
    # answered by the LLM (status success)
    experiment: dict[str, dict] = field(default_factory=dict)
    # the golden-set canary's share of `tokens` (gemini_tokens_used_total{source="canary"}):
    # billed like any, but no user request's
    canary_tokens: dict[str, dict[str, float]] = field(default_factory=dict)
    # the deployment read (--namespace): every query carried namespace="..."; "" for all
    namespace: str = ""

    @property
    def answered(self) -> float:
        return sum(self.requests.get(s, 0.0) for s in M.ANSWERED_STATUSES)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Aggregates:
        data = json.loads(text)
        data["trend"] = [tuple(p) for p in data.get("trend", [])]
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> Aggregates:
        return cls.from_json(Path(path).read_text())


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _by(samples, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, value in samples:
        key = labels.get(label, "")
        out[key] = out.get(key, 0.0) + _finite(value)
    return out


def _by2(samples, outer: str, inner: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for labels, value in samples:
        group = out.setdefault(labels.get(outer, ""), {})
        key = labels.get(inner, "")
        group[key] = group.get(key, 0.0) + _finite(value)
    return out


def scope(namespace: str = "") -> Scope:
    """The series the report reads: one deployment's (`namespace`), or all of them."""
    return Scope(SELECTORS.in_namespace(namespace) if namespace else "")


def _total(samples) -> float:
    return sum(_finite(v) for _, v in samples)


def collect(prom: Prometheus, window: str, at: float | None = None,
            candidates: int = 12, candidate_share: float | None = None,
            experiment=None, namespace: str = "") -> Aggregates:
    """The aggregates of the `window` that ends at `at` (now by default), of one
    deployment's series when `namespace` is given."""
    at = time.time() if at is None else at
    window_s = seconds(window)
    m = scope(namespace)
    q = lambda expr: prom.query(expr, at)
    increase = lambda metric, by="", matchers="": q(sum_increase(metric, window, matchers,
                                                                 m, by))
    recorded = q(total(COST_RATE_RECORD, m=m))
    aggregates = Aggregates(
        window=window, window_s=window_s, end=at,
        tokens=_by2(increase(M.GEMINI_TOKENS_TOTAL, "model, type"), "model", "type"),
        requests=_by(increase(M.REQUESTS_TOTAL, "status"), "status"),
        gemini_calls=_by(increase(M.GEMINI_CALLS_TOTAL, "outcome"), "outcome"),
        retries=_by(increase(M.GEMINI_RETRIES_TOTAL, "reason"), "reason"),
        wasted=_by(increase(M.GEMINI_WASTED_TOKENS_TOTAL, "reason"), "reason"),
        duplicates=_total(increase(M.DUPLICATE_REQUESTS_TOTAL)),
        cache_lookups=_by(increase(M.CACHE_LOOKUPS_TOTAL, "result"), "result"),
        cache_evictions=_total(increase(M.CACHE_EVICTIONS_TOTAL)),
        cache_tokens_saved=_by2(increase(M.CACHE_TOKENS_SAVED_TOTAL, "model, type"),
                                "model", "type"),
        recorded_cost_usd_per_s=_total(recorded) if recorded else None,
        canary_tokens=_by2(increase(M.GEMINI_TOKENS_TOTAL, "model, type",
                                    f'source="{CANARY}"'), "model", "type"),
        candidates=candidates, candidate_share=candidate_share, namespace=namespace)
    aggregates.trend = _trend(prom, window_s, at, m)
    if experiment is not None:
        aggregates.experiment = _experiment(increase, experiment, candidates)
    return aggregates


def _trend(prom: Prometheus, window_s: float, at: float,
           m: Scope) -> list[tuple[float, float, float]]:
    """Tokens and answered requests in each of TREND_POINTS steps of the window.

    Each step is the difference of two increases that both start at the window's start
    (one instant query per point): the steps add up to the window's own figures exactly,
    and counter resets are handled by increase(); increase() over each step's own range
    would lose what happens between two ranges' samples."""
    start = at - window_s
    spans = sorted({max(1, round(n * window_s / TREND_POINTS))
                    for n in range(1, TREND_POINTS + 1)})
    points, previous = [], (0.0, 0.0)
    for whole in spans:  # the last one is the window itself
        t, span = start + whole, duration(whole)
        tokens = _total(prom.query(sum_increase(M.GEMINI_TOKENS_TOTAL, span, USER_TOKENS, m),
                                   t))
        answered = _total(prom.query(sum_increase(M.REQUESTS_TOTAL, span, ANSWERED, m), t))
        points.append((t, round(tokens - previous[0], 3), round(answered - previous[1], 3)))
        previous = (tokens, answered)
    return points


def _experiment(increase, experiment, candidates: int) -> dict[str, dict]:
    """Per variant: prompt tokens (users' requests) and the requests the LLM answered, where
    the counters carry the `variant` label; {} when they do not. Per answered request, so a
    retry's prompt counts too: the same for every variant but for their retry rates."""
    prompt = _by(increase(M.GEMINI_TOKENS_TOTAL, "variant",
                          f'type=~"input|cached_input", {USER_TOKENS}'), "variant")
    answers = _by(increase(M.REQUESTS_TOTAL, "variant", 'status="success"'), "variant")
    out = {}
    for variant in experiment.variants:
        if variant.llm is not False and prompt.get(variant.name) and answers.get(variant.name):
            out[variant.name] = {"candidates": variant.candidates or candidates,
                                 "prompt_tokens": prompt[variant.name],
                                 "answers": answers[variant.name]}
    return out
