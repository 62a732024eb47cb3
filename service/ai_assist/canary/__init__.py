"""The golden-set canary: mapping quality watched in production.

Every AI_ASSIST_CANARY_INTERVAL_S seconds (0, the default: off) the service maps a small
labelled set (AI_ASSIST_CANARY_SET, by default golden_set.json beside this module) through
its own live pipeline, in-process, one passage after the other, and counts per language
how many answers held one of the passage's correct disclosures among the first `top_k`:
esg_canary_checks_total / esg_canary_hits_total {language} (Prometheus computes the hit
rate over any window from them), esg_canary_hit_ratio {language} for the last run, and
esg_canary_last_run_timestamp_seconds. One log line per run (`canary_run_completed`)
names the missed passages' ids.

The checks are synthetic (Pipeline.run(synthetic=True)): they never pass the HTTP
middleware or the rate limiter, the user-facing metrics leave them out
(metrics.USER_TRAFFIC_ONLY), the response cache is skipped, and their Gemini tokens are
counted under gemini_tokens_used_total{source="canary"}. Every log line of a run carries
`synthetic: true`.

Its command line, `python -m ai_assist.canary`, is ai_assist/canary/__main__.py.

The schedule is a plain asyncio loop: one task, one run at a time, nothing to persist,
so a scheduler library would add a dependency without taking any code away.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import structlog

from ai_assist.frameworks import FRAMEWORKS
from ai_assist.telemetry.logging import get_logger
from ai_assist.telemetry.metrics import CANARY_LANGUAGES, Metrics
from ai_assist.telemetry.traffic import mark_synthetic

DEFAULT_SET = Path(__file__).resolve().parents[1] / "golden_set.json"
READY_POLL_S = 0.5
SCRAPES_BEFORE_FIRST_RUN = 2
log = get_logger("ai_assist.canary")


@dataclass(frozen=True)
class GoldenItem:
    id: str
    language: str
    frameworks: tuple[str, ...]
    expected: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class GoldenSet:
    top_k: int
    items: tuple[GoldenItem, ...]


def load_golden_set(path: str | Path = DEFAULT_SET,
                    known_ids: frozenset[str] | None = None) -> GoldenSet:
    """Read and check a golden-set file; ValueError names the file and the entry at fault.

    With `known_ids` (the catalogue's disclosure ids), every expected id must be one."""
    where = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{where}: cannot read the golden set: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list) or not doc["items"]:
        raise ValueError(f"{where}: needs a non-empty `items` list")
    top_k = doc.get("top_k", 3)
    if not isinstance(top_k, int) or not 1 <= top_k <= 20:
        raise ValueError(f"{where}: top_k must be an integer from 1 to 20")
    items, seen = [], set()
    for n, raw in enumerate(doc["items"], start=1):
        label = f"{where}: item #{n}"
        if not isinstance(raw, dict):
            raise ValueError(f"{label} is not an object")
        item_id = raw.get("id")
        if not isinstance(item_id, str) or not item_id or item_id in seen:
            raise ValueError(f"{label}: id missing or used twice")
        seen.add(item_id)
        label = f"{where}: item {item_id!r}"
        if raw.get("language") not in CANARY_LANGUAGES:
            raise ValueError(f"{label}: language must be one of {', '.join(CANARY_LANGUAGES)}")
        text = raw.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{label}: text is missing or empty")
        frameworks = raw.get("frameworks", list(FRAMEWORKS))
        expected = raw.get("expected")
        if (not isinstance(frameworks, list) or not frameworks
                or any(f not in FRAMEWORKS for f in frameworks)):
            raise ValueError(f"{label}: frameworks must be a list of {', '.join(FRAMEWORKS)}")
        if (not isinstance(expected, list) or not expected
                or any(not isinstance(e, str) for e in expected)):
            raise ValueError(f"{label}: expected must be a non-empty list of disclosure ids")
        unknown = [e for e in expected if known_ids is not None and e not in known_ids]
        if unknown:
            raise ValueError(f"{label}: {', '.join(unknown)} not in the catalogue")
        items.append(GoldenItem(item_id, raw["language"], tuple(frameworks), tuple(expected),
                                text))
    return GoldenSet(top_k, tuple(items))


@dataclass(frozen=True)
class RunResult:
    checks: Counter
    hits: Counter
    missed: tuple[str, ...]
    seconds: float

    def ratio(self, language: str) -> float:
        return self.hits[language] / self.checks[language]


class Canary:
    def __init__(self, golden: GoldenSet, metrics: Metrics) -> None:
        self.golden = golden
        self.metrics = metrics

    async def run_once(self, pipeline) -> RunResult:
        """Map every passage once; count and log what the answers held."""
        mark_synthetic()  # this task's context: also set by run(synthetic=True)
        started = time.perf_counter()
        checks, hits, missed = Counter(), Counter(), []
        for item in self.golden.items:
            checks[item.language] += 1
            try:
                result = await pipeline.run(item.text, item.frameworks, self.golden.top_k,
                                            synthetic=True)
                answered = [m.disclosure_id for m in result.matches[: self.golden.top_k]]
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an error is a miss, never the canary's end
                log.warning("canary_check_failed", item=item.id,
                            error_type=type(exc).__name__, error_message=str(exc))
                answered = []
            if any(e in answered for e in item.expected):
                hits[item.language] += 1
            else:
                missed.append(item.id)
        result = RunResult(checks, hits, tuple(missed), time.perf_counter() - started)
        self._record(result)
        return result

    def _record(self, result: RunResult) -> None:
        for language, count in result.checks.items():
            self.metrics.canary_checks.labels(language).inc(count)
            self.metrics.canary_hits.labels(language).inc(result.hits[language])
            self.metrics.canary_hit_ratio.labels(language).set(result.ratio(language))
        self.metrics.canary_last_run.set(time.time())
        log.info("canary_run_completed", seconds=round(result.seconds, 2),
                 checks=dict(result.checks), hits=dict(result.hits),
                 hit_ratio={lang: round(result.ratio(lang), 4) for lang in result.checks},
                 missed=list(result.missed))

    async def loop(self, state, interval_s: float) -> None:
        """Wait for the service to be ready and for two scrapes of /metrics (at most one
        interval each), then run, and again every `interval_s`. Prometheus has then
        stored the counters at 0 before they rise, so increase() counts the first run
        too; the second scrape is the one relied on, since the first of a fresh process
        can outlast a short scrape timeout and be dropped."""
        structlog.contextvars.bind_contextvars(synthetic=True)  # this task's lines only
        mark_synthetic()
        while not state.ready:
            await asyncio.sleep(READY_POLL_S)
        for _ in range(SCRAPES_BEFORE_FIRST_RUN):
            state.scraped.clear()
            try:
                await asyncio.wait_for(state.scraped.wait(), interval_s)
            except asyncio.TimeoutError:
                break  # nobody scrapes (metrics off, no Prometheus): run anyway
        while True:
            try:
                await self.run_once(state.pipeline)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the canary die
                log.warning("canary_run_failed", error_type=type(exc).__name__, exc_info=exc)
            await asyncio.sleep(interval_s)


def start(state, golden: GoldenSet | None) -> asyncio.Task | None:
    """The canary's task when AI_ASSIST_CANARY_INTERVAL_S > 0 (the golden set loaded and
    checked at start-up, ai_assist/composition.py), else None."""
    settings = state.settings
    if settings.canary_interval_s <= 0 or golden is None:
        return None
    canary = Canary(golden, state.metrics)
    log.info("canary_started", interval_s=settings.canary_interval_s,
             passages=len(golden.items), top_k=golden.top_k)
    return asyncio.create_task(canary.loop(state, settings.canary_interval_s),
                               name="golden-set-canary")

