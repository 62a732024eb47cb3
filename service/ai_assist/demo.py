"""`python -m ai_assist.demo`: the service on the embedded defaults, end to end.

Starts the Gemini emulator and the service as processes on loopback, sends real ESG
passages (English and Korean) plus a few that make the emulator fail, prints the
answers, then summarises the metrics they produced from the service's own /metrics.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from ai_assist import pricing
from ai_assist.localrun import free_port, start, wait_ready
from ai_assist.samples import SAMPLES
from ai_assist.telemetry import metrics as M

SERVICE_DIR = Path(__file__).resolve().parents[1]
FAULTS = (("retried after a 503", "503*1"), ("malformed JSON, retried", "malformed*1"),
          ("Gemini down: fallback", "503"), ("Gemini times out: fallback", "timeout"))


def _samples(metrics_text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _sum(samples, name: str, **labels) -> float:
    return sum(v for (n, lbl), v in samples.items() if n == name
               and all(dict(lbl).get(k) == val for k, val in labels.items()))


def summarise(metrics_text: str, model: str) -> str:
    s = _samples(metrics_text)
    lines = ["", "Metrics the requests produced (from /metrics):"]
    statuses = {st: int(_sum(s, M.REQUESTS_TOTAL, status=st)) for st in M.REQUEST_STATUSES}
    lines.append("  requests        " + "  ".join(f"{k}={v}" for k, v in statuses.items()))
    for stage in M.STAGES:
        count = _sum(s, f"{M.STAGE_DURATION}_count", stage=stage)
        total = _sum(s, f"{M.STAGE_DURATION}_sum", stage=stage)
        if count:
            lines.append(f"  {stage:<15} mean {total / count * 1000:8.1f} ms over {int(count)}")
    tokens = {t: int(_sum(s, M.GEMINI_TOKENS_TOTAL, type=t)) for t in M.TOKEN_TYPES}
    lines.append("  gemini tokens   " + "  ".join(f"{k}={v}" for k, v in tokens.items()))
    calls = {o: int(_sum(s, M.GEMINI_CALLS_TOTAL, outcome=o)) for o in M.GEMINI_OUTCOMES}
    lines.append("  gemini calls    " + "  ".join(f"{k}={v}" for k, v in calls.items() if v))
    lines.append(f"  retries         {int(_sum(s, M.GEMINI_RETRIES_TOTAL))}")
    fallbacks = {r: int(_sum(s, M.FALLBACKS_TOTAL, reason=r)) for r in M.FALLBACK_REASONS}
    lines.append("  fallbacks       " + ("  ".join(f"{k}={v}" for k, v in fallbacks.items() if v)
                                         or "0"))
    parse = {r: int(_sum(s, M.JSON_PARSE_TOTAL, result=r)) for r in M.JSON_PARSE_RESULTS}
    lines.append("  json parse      " + "  ".join(f"{k}={v}" for k, v in parse.items()))
    count = _sum(s, f"{M.CONFIDENCE}_count")
    if count:
        lines.append(f"  avg confidence  {_sum(s, f'{M.CONFIDENCE}_sum') / count:.2f}")
    cost = pricing.usd(model, tokens)
    lines.append(f"  gemini cost     ${cost:.4f} at {model} prices (ai_assist/pricing.py)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-running", action="store_true",
                        help="leave the service up afterwards (Ctrl-C to stop)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="ai-assist-demo-"))
    env = {**os.environ, "PYTHONPATH": f"{SERVICE_DIR}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    emulator_port, service_port = free_port(), free_port()
    emulator_log, service_log = workdir / "emulator.log", workdir / "service.log"
    emulator = start(["-m", "gemini_emulator", "--host", "127.0.0.1", "--port",
                       str(emulator_port), "--latency-ms", "150"], env, emulator_log)
    service_env = {**env, "AI_ASSIST_PORT": str(service_port),
                   "AI_ASSIST_GEMINI_BASE_URL": f"http://127.0.0.1:{emulator_port}",
                   "AI_ASSIST_LLM_TIMEOUT_S": env.get("AI_ASSIST_LLM_TIMEOUT_S", "3"),
                   "AI_ASSIST_LLM_BACKOFF_S": env.get("AI_ASSIST_LLM_BACKOFF_S", "0.2"),
                   "AI_ASSIST_CHROMA_PATH": env.get("AI_ASSIST_CHROMA_PATH",
                                                    str(Path(".data/chroma").resolve()))}
    service = start(["-m", "ai_assist"], service_env, service_log)
    base = f"http://127.0.0.1:{service_port}"
    try:
        print(f"Starting the Gemini emulator and the service (logs in {workdir}) ...")
        wait_ready(f"http://127.0.0.1:{emulator_port}/healthz", emulator, 60, emulator_log)
        wait_ready(f"{base}/readyz", service, 300, service_log)
        health = requests.get(f"{base}/health", timeout=30).json()
        print(f"Service ready at {base}: {health['status']} "
              + ", ".join(f"{k}: {v['detail']}" for k, v in health["checks"].items()))
        print()
        for name, text in SAMPLES:
            body = requests.post(f"{base}/v1/esg/map", json={"text": text, "top_k": 3},
                                 timeout=60).json()
            top = "; ".join(f"{m['disclosure_id']} ({m['confidence']:.2f})"
                            for m in body["matches"])
            tag = " [fallback]" if body["fallback_used"] else ""
            print(f"{name:<15} {text[:58]:<58}… -> {top}{tag}")
        print()
        for label, marker in FAULTS:
            body = requests.post(f"{base}/v1/esg/map", timeout=60, json={
                "text": f"{SAMPLES[0][1]} [[emulate:{marker}]]", "top_k": 3}).json()
            print(f"{label:<28} fallback_used={body['fallback_used']!s:<5} "
                  f"reason={body['fallback_reason']} top={body['matches'][0]['disclosure_id']}")
        bad = requests.post(f"{base}/v1/esg/map", json={"text": "  "}, timeout=10)
        print(f"{'bad input (empty text)':<28} HTTP {bad.status_code}: {bad.json()['message']}")
        print(summarise(requests.get(f"{base}/metrics", timeout=10).text,
                        os.environ.get("AI_ASSIST_GEMINI_MODEL", "gemini-2.5-flash")))
        if args.keep_running:
            print(f"\nService at {base} (docs: {base}/docs). Ctrl-C to stop.")
            service.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for proc in (service, emulator):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
