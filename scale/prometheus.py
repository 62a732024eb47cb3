"""A Prometheus process on a TSDB directory; its queries (with their statistics) go
through observability/promapi.py, the one client of Prometheus's HTTP API.

The minimal process handling of tests/harness (a tool run by make imports nothing from
tests/): a free loopback port, readiness polled with a deadline, terminate on exit.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import yaml

from observability.promapi import Prometheus
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
        self.client = Prometheus(self.url, timeout_s=QUERY_TIMEOUT_S)
        try:
            wait_until(self._ready, READY_TIMEOUT_S, "Prometheus /-/ready")
        except Exception:
            self.stop()
            raise

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise ProcessLookupError(f"Prometheus exited: {self.log_path.read_text()[-2000:]}")
        return self.client.ready()

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
