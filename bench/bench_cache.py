"""The response cache's row of `make bench` (bench/benchmark.py calls `cache_rows`).

The same request mix twice, against a replica with the cache off and one with it on
(AI_ASSIST_CACHE_ENABLED, in-process), the emulator answering in 1 s: 30 % of the
requests repeat a passage sent earlier in the run (identical text, frameworks and top_k),
70 % are new. Printed: req/s, p50 / p95, Gemini calls and tokens billed (the emulator's
own counts), and the cache's hit ratio (from /metrics). With 32 clients a repeat whose
first copy is still in flight misses as well (no request waits for another's answer), so
the hit ratio sits a little below the duplicate share.
"""

from __future__ import annotations

import asyncio
import random
import time

import httpx
from ai_assist.samples import SAMPLES

from tests.harness.processes import emulator_stats, start_service

DUPLICATE_SHARE = 0.3
CLIENTS = 32
LATENCY_MS = 1000
LEAD = 40


def request_mix(total: int) -> list[str]:
    """`total` passages, DUPLICATE_SHARE of them repeats: after a lead of new passages
    (so the first copy of a repeat has usually been answered: more than CLIENTS earlier),
    each request repeats one sent at least LEAD earlier, with a seeded probability that
    makes the repeats DUPLICATE_SHARE of the whole."""
    draw = random.Random(7)
    chance = DUPLICATE_SHARE * total / (total - LEAD)
    texts: list[str] = []
    for n in range(total):
        if n >= LEAD and draw.random() < chance:
            texts.append(texts[draw.randrange(n - LEAD + 1)])
        else:
            texts.append(f"{SAMPLES[n % len(SAMPLES)][1]} (site {n})")
    return texts


async def _load(url: str, texts: list[str]) -> tuple[float, list[float], int, int]:
    latencies: list[float] = []
    failures = hits = 0
    queue = list(enumerate(texts))
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        async def worker() -> None:
            nonlocal failures, hits
            while queue:
                _, text = queue.pop(0)
                started = time.perf_counter()
                response = await client.post(f"{url}/v1/esg/map",
                                             json={"text": text, "top_k": 5})
                latencies.append(time.perf_counter() - started)
                failures += response.status_code != 200
                hits += response.headers.get("X-Cache") == "hit"

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        return time.perf_counter() - started, latencies, failures, hits


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cache_rows(work, emulator, env: dict[str, str], scale: int) -> None:
    """The mix against two fresh replicas, the cache off and on (fresh: the failure rows
    before this leave the first replica's circuit breaker open)."""
    texts = request_mix(128 * scale)
    repeats = len(texts) - len(set(texts))
    replicas = [start_service(work, {**env, "AI_ASSIST_CACHE_ENABLED": on})
                for on in ("false", "true")]
    try:
        print(f"\nresponse cache, {len(texts)} requests, {repeats / len(texts):.0%} repeated "
              f"texts, emulator {LATENCY_MS} ms, {CLIENTS} clients:")
        for label, replica in zip(("cache off", "cache on (in-process)"), replicas):
            emulator.reset()
            emulator.configure(latency_ms=LATENCY_MS, jitter_ms=0)
            wall, latencies, failures, hits = asyncio.run(_load(replica.url, texts))
            stats = emulator_stats(emulator)
            tokens = sum(stats["tokens"].values())
            print(f"  {label:<22} {len(texts) / wall:6.1f} req/s, p50 "
                  f"{_quantile(latencies, 0.5) * 1000:5.0f} ms, p95 "
                  f"{_quantile(latencies, 0.95) * 1000:5.0f} ms, {failures} failed; Gemini "
                  f"calls {stats['calls']}, tokens {tokens:,}; cache hits {hits} "
                  f"({hits / len(texts):.0%})")
    finally:
        for replica in replicas:
            replica.stop()
        emulator.reset()
