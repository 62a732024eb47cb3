"""Benchmark of /v1/esg/map (a command, not a test): `make bench`.

Prints requests/s and p50 / p95 latency at concurrency 1 and 32 with the emulator at
zero latency, the same with the emulator at 2 s and 64 clients (no head-of-line
blocking: throughput should approach 32 req/s), the embedding stage's throughput under
load beside the raw model's batched throughput measured in this same run, and the
number of series on /metrics afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import requests

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "service"),
                str(Path(__file__).resolve().parents[1])]

from ai_assist.samples import SAMPLES  # noqa: E402
from tests.harness.processes import start_emulator, start_service  # noqa: E402


async def load(url: str, clients: int, per_client: int) -> tuple[float, list[float], int]:
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


def raw_model_throughput(batch: int = 32, rounds: int = 8) -> float:
    from ai_assist.mapping.embedding import EmbeddingModel

    model = EmbeddingModel("bundled:all-MiniLM-L6-v2", "auto")
    texts = [SAMPLES[i % len(SAMPLES)][1] for i in range(batch)]
    model.encode(texts, batch_size=batch)  # warm-up
    started = time.perf_counter()
    for _ in range(rounds):
        model.encode(texts, batch_size=batch)
    return batch * rounds / (time.perf_counter() - started)


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
        print(f"raw model, batches of 32, this machine:  {raw:8.1f} texts/s")
        print(f"embedding stage under load (32 clients): {rows[1]['embedded_per_s']:8.1f} texts/s "
              f"(mean batch {rows[1]['mean_batch']:.1f})")
        print(f"series on /metrics afterwards:           {series}")
        print(f"2 s emulator, 64 clients: {rows[2]['req_s']:.1f} req/s "
              f"(ideal without head-of-line blocking: {64 / 2:.0f})")
    finally:
        service.stop()
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
