"""`promtool tsdb create-blocks-from openmetrics`: one file per block range, several at
once (each promtool process parses its whole input twice, so files are kept to one
block each and processed side by side)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

# The block ranges promtool and Prometheus cut (tsdb.ExponentialBlockRanges(2h, 10, 3)).
BLOCK_RANGES_S = tuple(2 * 3600 * 3 ** i for i in range(6))


def binary(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise FileNotFoundError(f"{name} is not on PATH: run `make setup`")
    return path


def version() -> str:
    out = subprocess.run([binary("prometheus"), "--version"], capture_output=True,
                         text=True, check=True)
    return (out.stdout or out.stderr).splitlines()[0]


class Backfill:
    """Runs promtool on finished files while the next ones are written; deletes each
    input once its blocks are in `tsdb`."""

    def __init__(self, tsdb: Path, parallel: int = 2) -> None:
        self.tsdb, self.parallel = tsdb, parallel
        self.running: list[tuple[subprocess.Popen, Path]] = []
        tsdb.mkdir(parents=True, exist_ok=True)

    def add(self, path: Path, block_s: int) -> None:
        while len(self.running) >= self.parallel:
            self._reap(self.running[0])
        process = subprocess.Popen(
            [binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", "--quiet",
             f"--max-block-duration={block_s}s", str(path), str(self.tsdb)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.running.append((process, path))

    def _reap(self, item: tuple[subprocess.Popen, Path]) -> None:
        process, path = item
        output, _ = process.communicate()
        self.running.remove(item)
        if process.returncode != 0:
            raise RuntimeError(f"promtool failed on {path}: {output[-2000:]}")
        path.unlink()

    def wait(self) -> None:
        while self.running:
            self._reap(self.running[0])
