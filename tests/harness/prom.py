"""Real Prometheus and Alertmanager processes on loopback ports, and a webhook receiver.

Prometheus runs the compose stack's own prometheus/prometheus.yml with only what must
differ on this machine replaced: the scrape targets (static 127.0.0.1 ports instead of
the compose DNS name), the intervals, the rule files and the Alertmanager address.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import yaml

from observability.promapi import Prometheus
from observability.selectors import SCRAPE_JOB
from tests.harness.processes import ROOT, Process, free_port, raise_if_exited, wait_until

PROMETHEUS_YML = ROOT / "prometheus" / "prometheus.yml"
READY_TIMEOUT_S = 60


def _binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError(f"none of {', '.join(names)} on PATH: run `make system-deps`")


def local_config(targets: Sequence[str], rule_files: Sequence[Path], self_address: str,
                 alertmanager: str | None, scrape_interval: str,
                 evaluation_interval: str, file_sd: Path | None = None,
                 jobs: Sequence[dict] = ()) -> dict:
    """prometheus/prometheus.yml, pointed at this machine: the service's targets listed,
    or read from `file_sd` (Prometheus's file-based discovery) when given, or the scrape
    `jobs` given instead of the service's (the cluster simulation's, tests/harness/
    cluster.py)."""
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    config["global"].update(scrape_interval=scrape_interval,
                            evaluation_interval=evaluation_interval)
    config["rule_files"] = [str(Path(p).resolve()) for p in rule_files]
    if alertmanager:
        config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    else:
        config.pop("alerting", None)
    if jobs:
        config["scrape_configs"] = [*(j for j in config["scrape_configs"]
                                      if j["job_name"] != SCRAPE_JOB), *jobs]
    by_name = {job["job_name"]: job for job in config["scrape_configs"]}
    if SCRAPE_JOB in by_name:
        service = by_name[SCRAPE_JOB]
        for key in [k for k in service if k.endswith("_sd_configs")]:
            del service[key]
        if file_sd:
            service["file_sd_configs"] = [{"files": [str(file_sd)], "refresh_interval": "1s"}]
        else:
            service["static_configs"] = [{"targets": list(targets)}]
    if "prometheus" in by_name:
        by_name["prometheus"]["static_configs"] = [{"targets": [self_address]}]
    return config


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def _address(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


def _wait_ready(process: Process, what: str, ready) -> None:
    """Until `ready()` (the process's own readiness check), or the process's exit."""
    try:
        wait_until(lambda: raise_if_exited(process) or ready(), READY_TIMEOUT_S,
                   f"{what} /-/ready")
    except Exception:
        process.stop()
        raise


class PromHandle(Prometheus):
    """A Prometheus this harness started: the project's one client of Prometheus's
    HTTP API (observability/promapi.py), with the process behind it."""

    def __init__(self, process: Process, url: str) -> None:
        super().__init__(url)
        self.process = process

    def stop(self) -> None:
        self.process.stop()


def start_prometheus(work_dir: Path, targets: list[str], rule_files: Sequence[Path] = (),
                     alertmanager_url: str | None = None, scrape_interval: str = "1s",
                     evaluation_interval: str = "1s", file_sd: Path | None = None,
                     jobs: Sequence[dict] = ()) -> PromHandle:
    port = free_port()
    address = f"127.0.0.1:{port}"
    directory = Path(work_dir) / f"prometheus-{port}"
    directory.mkdir(parents=True)
    config_path = directory / "prometheus.yml"
    config = local_config(targets, rule_files, address,
                          _address(alertmanager_url) if alertmanager_url else None,
                          scrape_interval, evaluation_interval, file_sd, jobs)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    process = Process("prometheus", [
        _binary("prometheus"), f"--config.file={config_path}",
        f"--storage.tsdb.path={directory / 'data'}", f"--web.listen-address={address}",
        # An alert reaches Alertmanager at the next evaluation, not a minute later.
        "--rules.alert.resend-delay=1s",
    ], None, directory / "prometheus.log", f"http://{address}")
    handle = PromHandle(process, process.url)
    _wait_ready(process, "Prometheus", handle.ready)
    return handle


class AlertmanagerHandle:
    def __init__(self, process: Process, url: str) -> None:
        self.process, self.url = process, url

    def alerts(self) -> list[dict]:
        """Alerts Alertmanager holds (API v2), with status.state and status.inhibitedBy."""
        response = requests.get(f"{self.url}/api/v2/alerts", timeout=10)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.process.stop()


def start_alertmanager(work_dir: Path, config_path: Path) -> AlertmanagerHandle:
    port = free_port()
    address = f"127.0.0.1:{port}"
    directory = Path(work_dir) / f"alertmanager-{port}"
    directory.mkdir(parents=True)
    process = Process("alertmanager", [
        _binary("alertmanager", "prometheus-alertmanager"),
        f"--config.file={config_path}", f"--storage.path={directory / 'data'}",
        f"--web.listen-address={address}", "--cluster.listen-address=",
    ], None, directory / "alertmanager.log", f"http://{address}")
    _wait_ready(process, "Alertmanager", lambda: _answers(f"{process.url}/-/ready"))
    return AlertmanagerHandle(process, process.url)


class WebhookReceiver:
    """An HTTP server on a free loopback port that keeps every JSON body POSTed to it
    (Alertmanager's webhook payloads)."""

    def __init__(self) -> None:
        self._payloads: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    payload = json.loads(body)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver._lock:
                    receiver._payloads.append(payload)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def payloads(self) -> list[dict]:
        with self._lock:
            return list(self._payloads)

    def notifications(self) -> list[tuple[str, dict]]:
        """(payload status, alert) for every alert of every payload received."""
        return [(p.get("status", ""), alert) for p in self.payloads
                for alert in p.get("alerts", [])]

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
