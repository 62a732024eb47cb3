"""A Prometheus process on a TSDB directory, and queries with their statistics.

The minimal process handling of tests/harness (a tool run by make imports nothing from
tests/): a free loopback port, readiness polled with a deadline, terminate on exit.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from scale.promtool import binary

READY_TIMEOUT_S = 120
QUERY_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, interval: float = 0.1):
    """Poll `check` until it returns a truthy value, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except ProcessLookupError:
            raise
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout:.0f} s (last error: {last})")


class QueryError(RuntimeError):
    pass


@dataclass
class Stats:
    total_samples: int  # samples loaded (stats.samples.totalQueryableSamples)
    peak_samples: int  # the most held at once: what --query.max-samples limits
    exec_s: float  # Prometheus's own execTotalTime
    wall_s: float  # the HTTP round trip as a client (Grafana, the rule manager) waits
    series: int  # result series
    error: str = ""


class Client:
    """Queries against a Prometheus URL, with stats=all."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()

    def _stats(self, path: str, params: dict) -> Stats:
        started = time.perf_counter()
        response = self.session.get(f"{self.url}{path}", params={**params, "stats": "all"},
                                    timeout=QUERY_TIMEOUT_S)
        wall = time.perf_counter() - started
        try:
            body = response.json()
        except ValueError:
            response.raise_for_status()
            raise
        if body.get("status") != "success":
            return Stats(0, 0, 0.0, wall, 0, f"{body.get('errorType')}: {body.get('error')}")
        data = body["data"]
        stats = data.get("stats") or {}
        samples = stats.get("samples") or {}
        result = data.get("result")
        return Stats(int(samples.get("totalQueryableSamples", 0)),
                     int(samples.get("peakSamples", 0)),
                     float((stats.get("timings") or {}).get("execTotalTime", 0.0)), wall,
                     len(result) if isinstance(result, list) else 1)

    def instant(self, expr: str, at: float) -> Stats:
        return self._stats("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})

    def range(self, expr: str, start: float, end: float, step: float) -> Stats:
        return self._stats("/api/v1/query_range", {"query": expr, "start": f"{start:.3f}",
                                                   "end": f"{end:.3f}", "step": f"{step:g}"})

    def series(self, expr: str, at: float | None = None) -> list[tuple[dict, float]]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        body = self.session.get(f"{self.url}/api/v1/query", params=params,
                                timeout=QUERY_TIMEOUT_S).json()
        if body.get("status") != "success":
            raise QueryError(f"{body.get('error')} ({expr})")
        return [(r["metric"], float(r["value"][1])) for r in body["data"]["result"]]

    def build_version(self) -> str:
        body = self.session.get(f"{self.url}/api/v1/status/buildinfo", timeout=10).json()
        return f"prometheus, version {body['data']['version']}"


class PrometheusProcess:
    """The real Prometheus serving `tsdb`; with `rule_files`, evaluating them every
    `evaluation_interval`. Compaction is off (min = max block duration), so nothing
    competes with the queries for the CPU."""

    def __init__(self, work: Path, tsdb: Path, rule_files: tuple[Path, ...] = (),
                 evaluation_interval: str = "15s", retention: str = "60d") -> None:
        work.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = {"global": {"evaluation_interval": evaluation_interval},
                  "rule_files": [str(p.resolve()) for p in rule_files],
                  "scrape_configs": []}
        config_path = work / f"prometheus-{port}.yml"
        config_path.write_text(yaml.safe_dump(config))
        self.log_path = work / f"prometheus-{port}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([
            binary("prometheus"), f"--config.file={config_path}",
            f"--storage.tsdb.path={tsdb}", f"--storage.tsdb.retention.time={retention}",
            "--storage.tsdb.min-block-duration=2h", "--storage.tsdb.max-block-duration=2h",
            f"--web.listen-address=127.0.0.1:{port}",
        ], stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._ready, READY_TIMEOUT_S, "Prometheus /-/ready")
        except Exception:
            self.stop()
            raise
        self.client = Client(self.url)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise ProcessLookupError(f"Prometheus exited: {self.log_path.read_text()[-2000:]}")
        return requests.get(f"{self.url}/-/ready", timeout=2).ok

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> "PrometheusProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
