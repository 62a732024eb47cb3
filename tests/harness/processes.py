"""Start the service and the Gemini emulator as real processes on free loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIR = ROOT / "service"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProcessExited(RuntimeError):
    """A child process died while we waited for it: waiting longer cannot help."""


def wait_until(check, timeout: float, what: str, interval: float = 0.1):
    """Poll `check` until it returns a truthy value, or fail after `timeout` seconds;
    at once when a child process it waits for has exited."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except ProcessExited:
            raise
        except Exception as exc:  # not up yet
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout:.0f} s (last error: {last_error})")


class Process:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path,
                 url: str) -> None:
        self.name, self.url, self.log_path = name, url, log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=ROOT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def python_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_ASSIST_")}
    env.update({"PYTHONPATH": f"{SERVICE_DIR}{os.pathsep}{ROOT}", "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"})
    env.update(extra)
    return env


class Emulator(Process):
    def configure(self, **config) -> dict:
        return configure_emulator(self, **config)

    def reset(self) -> None:
        reset_emulator(self)

    def stats(self) -> dict:
        return emulator_stats(self)


def configure_emulator(emulator, **config) -> dict:
    """Change the run-time config of an emulator (a process or an in-thread one)."""
    response = requests.post(f"{emulator.url}/_emulator/config", json=config, timeout=5)
    response.raise_for_status()
    return response.json()


def reset_emulator(emulator) -> None:
    requests.post(f"{emulator.url}/_emulator/reset", timeout=5).raise_for_status()


def emulator_stats(emulator) -> dict:
    return requests.get(f"{emulator.url}/_emulator/stats", timeout=5).json()


def start_emulator(log_dir: Path, *args: str, port: int | None = None) -> Emulator:
    """The emulator on a free port, or on `port` (one brought back where another was)."""
    port = port or free_port()
    emulator = Emulator("gemini-emulator",
                        [sys.executable, "-m", "gemini_emulator", "--host", "127.0.0.1",
                         "--port", str(port), *args],
                        python_env({}), log_dir / f"emulator-{port}.log",
                        f"http://127.0.0.1:{port}")
    try:
        wait_until(lambda: raise_if_exited(emulator) or _get_ok(f"{emulator.url}/healthz"), 30,
                   "emulator /healthz")
    except Exception:
        emulator.stop()
        raise
    return emulator


class Service(Process):
    @property
    def metrics_url(self) -> str:
        return f"{self.url}/metrics"

    @property
    def target(self) -> str:
        return self.url.removeprefix("http://")

    def log_lines(self) -> list[str]:
        return [line for line in self.log_text().splitlines() if line.strip()]


def start_service(log_dir: Path, env: dict[str, str], ready_timeout: float = 120) -> Service:
    """The real service (`python -m ai_assist`), polled until /readyz answers 200."""
    port = free_port()
    chroma = env.get("AI_ASSIST_CHROMA_PATH", str(log_dir / f"chroma-{port}"))
    service = Service("ai-assist", [sys.executable, "-m", "ai_assist"],
                      python_env({"AI_ASSIST_PORT": str(port), "AI_ASSIST_HOST": "127.0.0.1",
                                   "AI_ASSIST_CHROMA_PATH": chroma, **env}),
                      log_dir / f"service-{port}.log", f"http://127.0.0.1:{port}")
    try:
        wait_until(lambda: raise_if_exited(service) or _get_ok(f"{service.url}/readyz"),
                   ready_timeout, "service /readyz")
    except Exception:
        print(service.log_text()[-4000:])
        service.stop()
        raise
    return service


def _get_ok(url: str) -> bool:
    return requests.get(url, timeout=2).status_code == 200


def raise_if_exited(process: Process) -> bool:
    if not process.alive():
        raise ProcessExited(f"{process.name} exited with {process.proc.returncode}:\n"
                           f"{process.log_text()[-3000:]}")
    return False


class Redis(Process):
    """A real redis-server (Debian's package) on a free loopback port, nothing persisted."""

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")


def start_redis(log_dir: Path, port: int | None = None) -> Redis:
    """redis-server on a free port, or on `port` (one brought back where another was)."""
    port = port or free_port()
    redis = Redis("redis-server", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no"],
                  dict(os.environ), log_dir / f"redis-{port}.log", f"redis://127.0.0.1:{port}")
    redis.port = port
    try:
        wait_until(lambda: raise_if_exited(redis) or redis.ping(), 30, "redis-server PING")
    except Exception:
        redis.stop()
        raise
    return redis


def copy_index(source: str | Path, target: Path) -> str:
    """A copy of a built ChromaDB index directory, so a new service reuses it instead of
    embedding the whole catalogue again (the fingerprint still decides)."""
    shutil.copytree(source, target)
    return str(target)


def start_replicas(work: Path, env: dict[str, str], index: str | Path,
                   count: int = 2) -> list[Service]:
    """`count` service processes started side by side, each on its own copy of a built
    index, with the same settings (e.g. sharing one Redis)."""
    from concurrent.futures import ThreadPoolExecutor

    paths = [copy_index(index, work / f"chroma-{i}") for i in range(count)]
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda path: start_service(
            work, {**env, "AI_ASSIST_CHROMA_PATH": path}), paths))
