"""The GPU check (`make gpu-check`): the service on a CUDA device, measured and written
down. Run it on a machine with an NVIDIA GPU, the driver and a CUDA build of torch.

It starts the Gemini emulator and the service with a sentence-transformers model on the
GPU (AI_ASSIST_EMBEDDING_DEVICE=cuda, so fp16; the bundled MiniLM unless MODEL= names
another that is on disk), then:
- checks that the service says so: ai_assist_build_info{device="cuda"} and
  ai_assist_gpu_devices >= 1 on /metrics;
- requests/s and p50 / p95 at concurrency 1 and 32 with the emulator at 0 ms, and with
  64 clients and the emulator at 2 s (AI_ASSIST_LLM_MAX_CONCURRENCY=64; ideal 32 req/s);
- the embedding stage under load ÷ the raw model on the same GPU at the same batch size;
- reads ai_assist_gpu_utilization_ratio and ai_assist_gpu_memory_used_bytes from
  /metrics every second while under load (the service samples NVML every 15 s), so
  the file shows them moving (idle before, busy during);
and writes every figure to OUT/gpu-check.json and OUT/gpu-check.md (OUT: --out,
default .data/gpu-check). Without CUDA it prints why and exits with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "service"), str(ROOT)]

NO_CUDA = 2


def cuda_device() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(0)


def gpu_samples(url: str) -> dict[str, float]:
    import requests
    from ai_assist.telemetry import metrics as M
    from prometheus_client.parser import text_string_to_metric_families

    wanted = {M.GPU_UTILIZATION: "utilization", M.GPU_MEMORY_USED: "memory_used_bytes",
              M.GPU_DEVICES: "devices"}
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(requests.get(f"{url}/metrics").text):
        for s in family.samples:
            if s.name in wanted and s.labels.get("gpu", "0") == "0":
                found[wanted[s.name]] = s.value
            if s.name == M.BUILD_INFO:
                found["device_cuda"] = float(s.labels.get("device") == "cuda")
    return found


class Sampler(threading.Thread):
    """/metrics' GPU series every second, with the phase they were read in."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.phase, self.rows = url, "idle", []
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.rows.append({"t": round(time.time(), 1), "phase": self.phase,
                                  **gpu_samples(self.url)})
            except Exception as exc:  # a scrape that failed is recorded, not fatal
                self.rows.append({"t": round(time.time(), 1), "phase": self.phase,
                                  "error": str(exc)[:200]})
            self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        self.join(5)


def scenario(url: str, clients: int, per_client: int) -> dict:
    from bench.benchmark import load, quantile

    answers: list = []
    wall, latencies, failures = asyncio.run(load(url, clients, per_client, answers))
    return {"clients": clients, "requests": len(latencies), "failed": failures,
            "fallbacks": sum(1 for _, reason in answers if reason),
            "req_s": round(len(latencies) / wall, 2),
            "p50_ms": round(quantile(latencies, 0.5) * 1000, 1),
            "p95_ms": round(quantile(latencies, 0.95) * 1000, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / ".data" / "gpu-check"))
    parser.add_argument("--load-seconds", type=float, default=45.0,
                        help="how long the sampled load runs (>= 3 NVML samples)")
    args = parser.parse_args(argv)
    device = cuda_device()
    if device is None:
        print("gpu-check: no CUDA device visible to torch (no NVIDIA GPU, no driver, or a "
              "CPU-only torch build): the GPU check has not run. Run it on a machine with "
              "a GPU and a CUDA build of torch.", file=sys.stderr)
        return NO_CUDA

    from ai_assist.config import BUNDLED_MINILM
    from ai_assist.mapping.embedding import EmbeddingModel

    from bench.bench_throughput import embedded
    from bench.benchmark import load, raw_model_throughput
    from tests.harness.processes import start_emulator, start_service

    model_name = os.environ.get("MODEL") or BUNDLED_MINILM
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ai-assist-gpu-check-"))
    emulator = start_emulator(work)
    service = start_service(work, {
        "AI_ASSIST_GEMINI_BASE_URL": emulator.url, "AI_ASSIST_RATE_LIMIT_PER_MINUTE": "0",
        "AI_ASSIST_LOG_LEVEL": "WARNING", "AI_ASSIST_EMBEDDING_MODEL": model_name,
        "AI_ASSIST_EMBEDDING_DEVICE": "cuda", "AI_ASSIST_EMBEDDING_QUEUE_SIZE": "4096",
        "AI_ASSIST_LLM_MAX_CONCURRENCY": "64"})
    sampler = Sampler(service.url)
    report: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "gpu": device, "model": model_name, "dtype": "fp16"}
    try:
        report["service_metrics"] = gpu_samples(service.url)
        sampler.start()
        time.sleep(3)  # an idle lead-in
        emulator.configure(latency_ms=0, jitter_ms=0)
        asyncio.run(load(service.url, 4, 4))  # warm-up
        sampler.phase = "load"
        rows = [scenario(service.url, 1, 30)]
        texts, batches = embedded(service.url)
        started = time.perf_counter()
        busy: list[dict] = []
        while time.perf_counter() - started < args.load_seconds:
            busy.append(scenario(service.url, 32, 8))
        wall = time.perf_counter() - started
        texts2, batches2 = embedded(service.url)
        rows.append({**busy[-1], "req_s": round(statistics.median(r["req_s"] for r in busy), 2),
                     "runs": len(busy)})
        stage = (texts2 - texts) / wall
        mean_batch = (texts2 - texts) / max(1.0, batches2 - batches)
        emulator.configure(latency_ms=2000, jitter_ms=0)
        rows.append({**scenario(service.url, 64, 3), "emulator_ms": 2000})
        emulator.configure(latency_ms=0)
        sampler.phase = "after"
        time.sleep(3)
        sampler.stop()
        model = EmbeddingModel(model_name, "cuda")
        batch = max(1, round(mean_batch))
        raw = raw_model_throughput(batch=batch, rounds=max(8, 256 // batch), model=model)
        report.update({
            "scenarios": rows,
            "embedding": {"stage_texts_per_s": round(stage, 1),
                          "mean_batch": round(mean_batch, 1),
                          "raw_texts_per_s_at_that_batch": round(raw, 1),
                          "stage_over_raw": round(stage / raw, 3)},
            "gpu_metrics_samples": sampler.rows,
        })
    finally:
        sampler.stop()
        service.stop()
        emulator.stop()
    by_phase: dict[str, list[float]] = {}
    for row in report.get("gpu_metrics_samples", []):
        if "utilization" in row:
            by_phase.setdefault(row["phase"], []).append(row["utilization"])
    report["utilization_by_phase"] = {k: {"min": min(v), "max": max(v)}
                                      for k, v in by_phase.items()}
    (out / "gpu-check.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# GPU check, {report['date']}", "",
             f"GPU {device}; embedding {model_name} in fp16; `make gpu-check`.", "",
             "| clients | emulator | req/s | p50 ms | p95 ms | failed | fallbacks |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for row in report.get("scenarios", []):
        lines.append(f"| {row['clients']} | {row.get('emulator_ms', 0)} ms | {row['req_s']} | "
                     f"{row['p50_ms']} | {row['p95_ms']} | {row['failed']} | "
                     f"{row['fallbacks']} |")
    emb = report.get("embedding", {})
    lines += ["", f"Embedding stage under load: {emb.get('stage_texts_per_s')} texts/s "
                  f"(mean batch {emb.get('mean_batch')}); raw model on the GPU at that batch "
                  f"size: {emb.get('raw_texts_per_s_at_that_batch')} texts/s; stage ÷ raw "
                  f"{emb.get('stage_over_raw')}.", "",
              "GPU utilisation read from /metrics, min / max by phase: " + ", ".join(
                  f"{k} {v['min']:.2f} / {v['max']:.2f}"
                  for k, v in report["utilization_by_phase"].items()), ""]
    (out / "gpu-check.md").write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"written: {out / 'gpu-check.json'}, {out / 'gpu-check.md'}")
    moving = len({round(r.get("utilization", -1), 3) for r in report["gpu_metrics_samples"]
                  if "utilization" in r}) > 1
    if not moving:
        print("gpu-check: the GPU utilisation on /metrics did not change during the run",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
