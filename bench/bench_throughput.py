"""Issue 13's rows of `make bench` (bench/benchmark.py calls `throughput_rows`; also
`python bench/bench_throughput.py [--quick]` alone).

Every comparison runs its two sides in turn (A B, B A, A B, ...) and prints the ratio
of each pair as min / median / max, so a machine whose speed drifts (other work on the
same cores) moves both sides of a pair alike. Quote the median.

1. The cost of observability: the service with everything on (metrics, JSON request
   logs at INFO, spans exported over OTLP to a sink in this process), and as shipped
   (the same with tracing off), each against the same service with metrics off, logs at
   WARNING (no request lines) and tracing off, at concurrency 1 and 16, the emulator at
   0 ms. Ratio: requests/s off ÷ on (1.03 = the observability costs 3 %).
2. The embedding stage ÷ the raw backend: texts embedded per second by the service under
   load (32 clients; from esg_embedding_batch_size) ÷ the same model encoding batches of
   the service's mean batch size in this process, with nothing else running.
3. Vector search per text: one ChromaDB query per text (before issue 13) against one
   query for a micro-batch of 16 texts (the service now), same frameworks; and 16 texts
   over two framework sets (two calls). Milliseconds per text, and the ratio.
4. Resident memory (VmRSS) of an idle service after a cold start (index built) and a warm
   one (index reused), per embedding backend.
5. 64 clients with Gemini answering in 2 s (ideal 32 req/s): with AI_ASSIST_LLM_MAX_
   CONCURRENCY=64 (the default 32 slots cap it at 16 req/s by design), per backend, so
   the row shows whether the HTTP client or the embedding holds it below the ideal.
6. The CPU each signal costs per request: the service's own CPU time (utime + stime of
   its process, /proc/PID/stat) over the same requests with metrics alone, JSON request
   logs alone, tracing alone (exported) or all three on, each minus the same with all
   off, in interleaved pairs. CPU time is what a replica pays whatever else the machine
   runs, where a throughput ratio on two busy cores cannot resolve 3 %.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "service"),
                str(Path(__file__).resolve().parents[1])]

from ai_assist.config import BUNDLED_MINILM, BUNDLED_MODEL  # noqa: E402
from ai_assist.samples import SAMPLES  # noqa: E402

from tests.harness.processes import start_emulator, start_service, wait_until  # noqa: E402

BASE_ENV = {"AI_ASSIST_RATE_LIMIT_PER_MINUTE": "0", "AI_ASSIST_EMBEDDING_QUEUE_SIZE": "4096"}
ON = {"AI_ASSIST_LOG_LEVEL": "INFO", "AI_ASSIST_METRICS_ENABLED": "true",
      "AI_ASSIST_TRACING_ENABLED": "true"}
OFF = {"AI_ASSIST_LOG_LEVEL": "WARNING", "AI_ASSIST_METRICS_ENABLED": "false",
       "AI_ASSIST_TRACING_ENABLED": "false"}


def spread(values: list[float], digits: int = 3) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in (min(values), statistics.median(values),
                                                   max(values)))


def interleaved(a, b, pairs: int) -> tuple[list[float], list[float]]:
    """Run a() and b() `pairs` times each, alternating which goes first."""
    got_a, got_b = [], []
    for n in range(pairs):
        if n % 2 == 0:
            got_a.append(a())
            got_b.append(b())
        else:
            got_b.append(b())
            got_a.append(a())
    return got_a, got_b


class _Sink(BaseHTTPRequestHandler):
    """Takes OTLP/HTTP exports and throws them away."""

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def otlp_sink() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def rate(url: str, clients: int, per_client: int) -> float:
    from bench.benchmark import load

    wall, latencies, failures = asyncio.run(load(url, clients, per_client))
    if failures:
        raise RuntimeError(f"{failures} requests failed against {url}")
    return len(latencies) / wall


def embedded(url: str) -> tuple[float, float]:
    from bench.benchmark import metric

    return (metric(url, "esg_embedding_batch_size_sum"),
            metric(url, "esg_embedding_batch_size_count"))


def overhead_rows(work: Path, emulator, scale: int, pairs: int) -> None:
    sink, sink_url = otlp_sink()
    common = {**BASE_ENV, "AI_ASSIST_GEMINI_BASE_URL": emulator.url,
              "OTEL_EXPORTER_OTLP_ENDPOINT": sink_url}
    on = start_service(work, {**common, **ON})
    untraced = start_service(work, {**common, **ON, "AI_ASSIST_TRACING_ENABLED": "false"})
    sampled = start_service(work, {**common, **ON, "AI_ASSIST_TRACING_SAMPLE_RATIO": "0.1"})
    off = start_service(work, {**common, **OFF})
    try:
        emulator.configure(latency_ms=0, jitter_ms=0)
        for service in (on, sampled, untraced, off):
            rate(service.url, 4, 3)  # warm-up
        print("\nobservability on ÷ off (interleaved pairs; requests/s off ÷ on, "
              "min / median / max; 'on' = metrics + JSON logs at INFO + tracing exported, "
              "'sampled' = the same recording one trace in ten "
              "(AI_ASSIST_TRACING_SAMPLE_RATIO=0.1), "
              "'untraced' = the shipped default: the same with tracing off)")
        for clients, per_client in ((1, 20 * scale), (16, 3 * scale)):
            for label, service in (("on", on), ("sampled", sampled), ("untraced", untraced)):
                got_on, got_off = interleaved(
                    lambda: rate(service.url, clients, per_client),  # noqa: B023
                    lambda: rate(off.url, clients, per_client), pairs)  # noqa: B023
                ratios = [b / a for a, b in zip(got_on, got_off)]
                print(f"  concurrency {clients:>2}: {label:<8} "
                      f"{statistics.median(got_on):6.2f} req/s, off "
                      f"{statistics.median(got_off):6.2f} req/s; cost {spread(ratios)}",
                      flush=True)
        embedding_ratio(on.url, scale, pairs)
        search_under_load(on.url)
    finally:
        on.stop()
        sampled.stop()
        untraced.stop()
        off.stop()
        sink.shutdown()


def embedding_ratio(url: str, scale: int, pairs: int) -> None:
    from ai_assist.mapping.embedding import EmbeddingModel

    from bench.benchmark import raw_model_throughput, service_model

    model = EmbeddingModel(service_model(), "auto")
    batches: list[float] = []

    def stage() -> float:
        texts, count = embedded(url)
        started = time.perf_counter()
        rate(url, 32, 2 * scale)
        wall = time.perf_counter() - started
        texts2, count2 = embedded(url)
        batches.append((texts2 - texts) / max(1.0, count2 - count))
        return (texts2 - texts) / wall

    def raw() -> float:
        batch = max(1, round(batches[-1])) if batches else 16
        return raw_model_throughput(batch=batch, rounds=max(2, 64 // batch), model=model)

    got_stage, got_raw = interleaved(stage, raw, pairs)
    ratios = [s / r for s, r in zip(got_stage, got_raw)]
    print(f"\nembedding stage under load (32 clients, mean batch "
          f"{statistics.median(batches):.1f}): {statistics.median(got_stage):.1f} texts/s; "
          f"raw {model.name} at that batch size: {statistics.median(got_raw):.1f} texts/s; "
          f"stage ÷ raw {spread(ratios, 2)}", flush=True)


def search_under_load(url: str) -> None:
    import requests
    from prometheus_client.parser import text_string_to_metric_families

    sums = {}
    for family in text_string_to_metric_families(requests.get(f"{url}/metrics").text):
        for s in family.samples:
            if s.name.startswith("esg_mapping_duration_seconds_") and \
                    s.labels.get("stage") == "vector_search":
                key = s.name.rsplit("_", 1)[1]
                sums[key] = sums.get(key, 0.0) + s.value
    if sums.get("count"):
        print(f"vector_search stage per request over the whole run (vector ready -> its "
              f"batch's search returned): {sums['sum'] / sums['count'] * 1000:.1f} ms mean",
              flush=True)


def search_rows(pairs: int) -> None:
    from ai_assist.mapping.catalogue import load_catalogue
    from ai_assist.mapping.embedding import EmbeddingModel
    from ai_assist.mapping.vector_store import VectorStore

    from bench.benchmark import service_model

    model = EmbeddingModel(service_model(), "auto")
    store = VectorStore(tempfile.mkdtemp(prefix="bench-chroma-"))
    store.build(load_catalogue(), model)
    texts = [SAMPLES[i % len(SAMPLES)][1] for i in range(16)]
    vectors = list(model.encode(texts, batch_size=16))
    everything = ("GRI", "SASB", "TCFD", "ESRS")
    same = [(everything, 12)] * len(vectors)
    mixed = [(everything, 12) if i % 2 else (("GRI", "ESRS"), 12) for i in range(len(vectors))]
    rounds = 10

    def single(queries):
        def run() -> float:
            started = time.perf_counter()
            for _ in range(rounds):
                for vector, query in zip(vectors, queries):
                    store._search_many([vector], [query])
            return (time.perf_counter() - started) / rounds / len(vectors) * 1000
        return run

    def batched(queries):
        def run() -> float:
            started = time.perf_counter()
            for _ in range(rounds):
                store._search_many(vectors, queries)
            return (time.perf_counter() - started) / rounds / len(vectors) * 1000
        return run

    assert store._search_many(vectors, mixed) == [store._search_many([v], [q])[0]
                                                 for v, q in zip(vectors, mixed)]
    print("\nvector search, ms per text (16 texts; interleaved pairs)")
    for label, queries in (("same frameworks", same), ("two framework sets", mixed)):
        one, many = interleaved(single(queries), batched(queries), pairs)
        print(f"  {label:<20} one query a text {statistics.median(one):6.3f} ms, one "
              f"query a batch {statistics.median(many):6.3f} ms; batched ÷ single "
              f"{spread([b / a for a, b in zip(one, many)], 2)}", flush=True)
    store.close()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def idle_rss(service) -> float:
    """VmRSS once it has held still for a second (start-up's background work done)."""
    readings: list[float] = []

    def still() -> bool:
        readings.append(rss_mib(service.proc.pid))
        return len(readings) >= 5 and max(readings[-5:]) - min(readings[-5:]) < 2

    wait_until(still, 60, "resident memory to settle", interval=0.25)
    return readings[-1]


def rss_rows(work: Path) -> None:
    print("\nidle resident memory (VmRSS, MiB) after a cold start (index built) and a warm "
          "one (index reused)")
    for model in (BUNDLED_MODEL, BUNDLED_MINILM):
        chroma = str(work / f"rss-{model.split(':')[-1]}")
        figures = []
        for _ in ("cold", "warm"):
            service = start_service(work, {**BASE_ENV, "AI_ASSIST_LLM_ENABLED": "false",
                                           "AI_ASSIST_EMBEDDING_MODEL": model,
                                           "AI_ASSIST_CHROMA_PATH": chroma})
            try:
                figures.append(idle_rss(service))
            finally:
                service.stop()
        print(f"  {model:<34} cold {figures[0]:6.0f}  warm {figures[1]:6.0f}  "
              f"cold - warm {figures[0] - figures[1]:+5.0f}", flush=True)


def gemini_2s_rows(work: Path, emulator, scale: int) -> None:
    from bench.benchmark import load, quantile

    print("\n64 clients, Gemini answering in 2 s, AI_ASSIST_LLM_MAX_CONCURRENCY=64 "
          "(ideal 32 req/s)")
    emulator.configure(latency_ms=2000, jitter_ms=0)
    try:
        for model in (BUNDLED_MODEL, BUNDLED_MINILM):
            service = start_service(work, {**BASE_ENV, "AI_ASSIST_GEMINI_BASE_URL": emulator.url,
                                           "AI_ASSIST_LOG_LEVEL": "WARNING",
                                           "AI_ASSIST_LLM_MAX_CONCURRENCY": "64",
                                           "AI_ASSIST_EMBEDDING_MODEL": model})
            try:
                asyncio.run(load(service.url, 64, 1))  # warm-up
                answers: list = []
                wall, latencies, failures = asyncio.run(load(service.url, 64, 2 * scale,
                                                             answers))
                fallbacks = sum(1 for _, reason in answers if reason)
                print(f"  {model:<34} {len(latencies) / wall:5.1f} req/s, {failures} failed, "
                      f"{fallbacks} fallbacks, p50 {quantile(latencies, 0.5) * 1000:.0f} ms, "
                      f"p95 {quantile(latencies, 0.95) * 1000:.0f} ms", flush=True)
            finally:
                service.stop()
        calls, wall = asyncio.run(gemini_alone(emulator.url, 64, 2 * scale))
        print(f"  the Gemini stage alone (GeminiMapper.map from 64 tasks, no embedding): "
              f"{calls / wall:5.1f} calls/s", flush=True)
    finally:
        emulator.configure(latency_ms=0)


async def gemini_alone(url: str, tasks: int, per_task: int) -> tuple[int, float]:
    """The service's Gemini client, connection handling and retry loop without the rest
    of the pipeline: whether anything in it caps concurrent calls."""
    from ai_assist.config import Settings
    from ai_assist.mapping.llm import GeminiMapper
    from ai_assist.mapping.types import Candidate
    from ai_assist.telemetry.metrics import Metrics
    from prometheus_client import CollectorRegistry

    settings = Settings(gemini_base_url=url, llm_max_concurrency=tasks,
                        circuit_failure_threshold=0)
    mapper = GeminiMapper(settings, Metrics(CollectorRegistry(), recording=False))
    candidates = [Candidate("GRI", f"GRI 305-{i}", f"title {i}", "description", 0.8)
                  for i in range(1, 6)]

    async def one(index: int) -> int:
        done = 0
        for n in range(per_task):
            result = await mapper.map(SAMPLES[(index + n) % len(SAMPLES)][1], candidates,
                                      ("GRI",), 3)
            done += result.attempts == 1
        return done

    try:
        await mapper.map(SAMPLES[0][1], candidates, ("GRI",), 3)  # warm-up
        started = time.perf_counter()
        done = sum(await asyncio.gather(*(one(i) for i in range(tasks))))
        return done, time.perf_counter() - started
    finally:
        await mapper.aclose()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SIGNALS = {
    "metrics": {**OFF, "AI_ASSIST_METRICS_ENABLED": "true"},
    "logs": {**OFF, "AI_ASSIST_LOG_LEVEL": "INFO"},
    "tracing": {**OFF, "AI_ASSIST_TRACING_ENABLED": "true"},
    "all three": ON,
}


def cpu_rows(work: Path, emulator, scale: int, pairs: int) -> None:
    sink, sink_url = otlp_sink()
    common = {**BASE_ENV, "AI_ASSIST_GEMINI_BASE_URL": emulator.url,
              "OTEL_EXPORTER_OTLP_ENDPOINT": sink_url}
    services = {name: start_service(work, {**common, **env}) for name, env in
                {**SIGNALS, "off": OFF}.items()}
    requests_ = 100 * scale
    try:
        emulator.configure(latency_ms=0, jitter_ms=0)
        for service in services.values():
            rate(service.url, 4, 3)  # warm-up

        def cpu_ms_per_request(service) -> float:
            before = cpu_seconds(service.proc.pid)
            rate(service.url, 4, requests_ // 4)
            return (cpu_seconds(service.proc.pid) - before) * 1000 / requests_

        print(f"\nCPU per request that each signal adds (service process utime + stime, "
              f"{requests_} requests at concurrency 4, {pairs} interleaved pairs against "
              "all off; ms of CPU per request, min / median / max; 'off' itself below)")
        baseline = []
        for name in SIGNALS:
            got, off = interleaved(lambda: cpu_ms_per_request(services[name]),  # noqa: B023
                                   lambda: cpu_ms_per_request(services["off"]), pairs)
            baseline += off
            print(f"  {name:<10} +{spread([a - b for a, b in zip(got, off)], 2)} ms "
                  f"(with it {statistics.median(got):.2f} ms, off "
                  f"{statistics.median(off):.2f} ms)", flush=True)
        print(f"  off        {spread(baseline, 2)} ms of CPU per request")
    finally:
        for service in services.values():
            service.stop()
        sink.shutdown()


def throughput_rows(work: Path, emulator, scale: int) -> None:
    pairs = 3 if scale == 1 else 5
    cpu_rows(work, emulator, scale, pairs)
    overhead_rows(work, emulator, scale, pairs)
    search_rows(pairs)
    rss_rows(work)
    gemini_2s_rows(work, emulator, scale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and pairs")
    parser.add_argument("--cpu", action="store_true",
                        help="only the CPU each signal adds per request (row 6)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ai-assist-bench13-"))
    emulator = start_emulator(work)
    scale = 1 if args.quick else 3
    try:
        if args.cpu:
            cpu_rows(work, emulator, scale, 3 if args.quick else 5)
        else:
            throughput_rows(work, emulator, scale)
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
