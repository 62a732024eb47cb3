"""What continuous profiling costs (a command, not a test; `make bench` runs it):
`python bench/bench_profiling.py [--rounds N]`.

Two real services (`python -m ai_assist`) run side by side on the same Gemini emulator
(0 ms): one with AI_ASSIST_PROFILING_ENABLED=true pushing to a loopback Pyroscope
stand-in (tests/harness/pyroscope.py, which decodes every push as Pyroscope would), one
without. Rounds alternate ABBA (on, off, off, on, ...), so drift of the machine falls on
both alike. Each round sends the same number of new texts (no cache hit) from 8 clients.

Printed per configuration: median throughput, p50 / p95 latency over all rounds, and
the service process's CPU time per request (user + system from /proc, every thread:
the profiler's sampler included), which is the overhead least moved by the neighbour;
then the profiled service's CPU while idle (its sampler alone) and the pushes received.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "service"),
                str(Path(__file__).resolve().parents[1])]

import httpx  # noqa: E402

from ai_assist.samples import SAMPLES  # noqa: E402
from ai_assist.telemetry.profiling import AGENT_THREAD_NAME  # noqa: E402
from tests.harness.processes import start_emulator, start_service  # noqa: E402
from tests.harness.pyroscope import PyroscopeReceiver  # noqa: E402

CLIENTS = 8
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def cpu_seconds(pid: int) -> float:
    return _cpu(Path(f"/proc/{pid}/stat"))


def agent_cpu_seconds(pid: int) -> float:
    """CPU time of the Pyroscope SDK's own threads (named by ai_assist's profiling)."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().strip() == AGENT_THREAD_NAME:
                total += _cpu(task / "stat")
        except OSError:
            pass  # the thread ended
    return total


async def run_round(url: str, per_client: int, tag: str) -> tuple[float, list[float]]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        async def one(index: int) -> None:
            for n in range(per_client):
                text = f"{SAMPLES[(index + n) % len(SAMPLES)][1]} ({tag} {index}.{n})"
                started = time.perf_counter()
                response = await client.post(f"{url}/v1/esg/map", json={"text": text})
                response.raise_for_status()
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(CLIENTS)))
        return time.perf_counter() - started, latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="rounds per configuration")
    parser.add_argument("--per-client", type=int, default=6, help="requests per client "
                        "per round")
    parser.add_argument("--native-threads", action="store_true", help="profile with "
                        "AI_ASSIST_PROFILING_NATIVE_THREADS=true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ai-assist-bench-profiling-"))
    base = {"AI_ASSIST_RATE_LIMIT_PER_MINUTE": "0", "AI_ASSIST_LOG_LEVEL": "WARNING"}
    with PyroscopeReceiver() as pyroscope, start_emulator(work) as emulator:
        base["AI_ASSIST_GEMINI_BASE_URL"] = emulator.url
        emulator.configure(latency_ms=0, jitter_ms=0)
        services = {
            "on": start_service(work, {**base, "AI_ASSIST_PROFILING_ENABLED": "true",
                                       "AI_ASSIST_PYROSCOPE_URL": pyroscope.url,
                                       "AI_ASSIST_PROFILING_NATIVE_THREADS":
                                           str(args.native_threads).lower()}),
            "off": start_service(work, base)}
        try:
            for name, service in services.items():  # warm-up, not counted
                asyncio.run(run_round(service.url, 3, f"warm-{name}"))
            threads = len(os.listdir(f"/proc/{services['on'].proc.pid}/task"))
            idle_before = cpu_seconds(services["on"].proc.pid), time.monotonic()
            time.sleep(5)
            idle_cpu = ((cpu_seconds(services["on"].proc.pid) - idle_before[0])
                        / (time.monotonic() - idle_before[1]))
            results: dict[str, dict[str, list]] = {
                name: {"req_s": [], "latencies": [], "cpu_ms": []} for name in services}
            agent_before = agent_cpu_seconds(services["on"].proc.pid)
            cpu_on_before = cpu_seconds(services["on"].proc.pid)
            order = ["on", "off", "off", "on"]
            for round_no in range(2 * args.rounds):
                name = order[round_no % 4]
                service = services[name]
                cpu_before = cpu_seconds(service.proc.pid)
                wall, latencies = asyncio.run(run_round(service.url, args.per_client,
                                                        f"r{round_no}"))
                cpu = cpu_seconds(service.proc.pid) - cpu_before
                results[name]["req_s"].append(len(latencies) / wall)
                results[name]["latencies"].extend(latencies)
                results[name]["cpu_ms"].append(cpu / len(latencies) * 1000)
            agent = agent_cpu_seconds(services["on"].proc.pid) - agent_before
            cpu_on = cpu_seconds(services["on"].proc.pid) - cpu_on_before
        finally:
            for service in services.values():
                service.stop()
    print(f"profiling on (native threads {'on' if args.native_threads else 'off'}) vs off, "
          f"{args.rounds} interleaved rounds each of {CLIENTS} clients x {args.per_client} "
          f"requests, emulator 0 ms")
    print(f"{'profiling':<10} {'req/s (median)':>15} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'CPU ms/request (median)':>24}")
    summary = {}
    for name, r in results.items():
        q = statistics.quantiles(r["latencies"], n=100, method="inclusive")
        summary[name] = (statistics.median(r["req_s"]), q[49] * 1000, q[94] * 1000,
                         statistics.median(r["cpu_ms"]))
        print(f"{name:<10} {summary[name][0]:>15.1f} {summary[name][1]:>8.1f} "
              f"{summary[name][2]:>8.1f} {summary[name][3]:>24.2f}")
    on, off = summary["on"], summary["off"]
    print(f"overhead: throughput {on[0] / off[0] - 1:+.1%}, p50 {on[1] / off[1] - 1:+.1%}, "
          f"p95 {on[2] / off[2] - 1:+.1%}, CPU per request {on[3] / off[3] - 1:+.1%}")
    print(f"the SDK's own threads: {agent:.2f} s of the profiled service's {cpu_on:.1f} s CPU "
          f"({agent / cpu_on:.1%}) over its {args.rounds} rounds and the others' idle time")
    print(f"profiled service idle: {idle_cpu * 100:.1f} % of a core (the sampler alone, "
          f"{threads} threads); "
          f"Pyroscope stand-in received {pyroscope.pushes} pushes, "
          f"{len(pyroscope.samples())} stacks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
