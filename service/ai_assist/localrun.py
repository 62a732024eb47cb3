"""The Gemini emulator and the service as local processes on free loopback ports, for the
commands that run them on a developer's machine: `make demo`, `make eval` and
`python -m ai_assist.canary`. (The tests have their own harness, tests/harness/, with log
capture and fault control.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

SERVICE_DIR = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment, with the service's packages importable and no hub downloads."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{SERVICE_DIR}{os.pathsep}{path}",
            "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(extra or {})}


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """`python ARGS` with its output in `log`."""
    return subprocess.Popen([sys.executable, *args], env=env, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    """Until `url` answers 200; exits with the process's log when it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"process exited ({proc.returncode}); its log:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    sys.exit(f"{url} did not answer within {timeout:.0f} s; log: {log}")


@dataclass
class Running:
    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def start_emulator(work: Path, *args: str) -> Running:
    port = free_port()
    log = work / f"emulator-{port}.log"
    proc = start(["-m", "gemini_emulator", "--host", "127.0.0.1", "--port", str(port), *args],
                 python_env(), log)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/healthz", proc, 60, log)
    return Running(url, proc, log)


def start_service(work: Path, env: dict[str, str], ready_timeout: float = 300) -> Running:
    port = free_port()
    log = work / f"service-{port}.log"
    proc = start(["-m", "ai_assist"], python_env({
        "AI_ASSIST_HOST": "127.0.0.1", "AI_ASSIST_PORT": str(port),
        "AI_ASSIST_CHROMA_PATH": str(work / f"chroma-{port}"), **env}), log)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/readyz", proc, ready_timeout, log)
    return Running(url, proc, log)
