"""The docs' report commands (docs/deployment/compose.md, docs/operations/), run as
written against a real Prometheus after real traffic (the session stack), from a checkout
and inside a copy of the service image's layout (what they name and the compose facts
they rely on: tests/unit/test_report_commands.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.compose import ROOT
from tests.harness.report_commands import AB, COST, EXEC_PREFIX, report_commands

DOCKERFILE = ROOT / "service" / "Dockerfile"
# What the commands write, relative to where they run; none of it may be in the checkout.
OUTPUTS = {"report", "ab-report.md", "ab-report.json"}


# --- run as written ------------------------------------------------------------------------

def _shell(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The command as a user types it: bash, in `cwd`, with only `env`."""
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def _user_env(home: Path, **extra: str) -> dict[str, str]:
    """A new shell's environment: none of the test run's PYTHONPATH or AI_ASSIST_*."""
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "LANG": "C.UTF-8", **extra}


def _checkout(tmp: Path) -> Path:
    """A checkout after `make setup` where the reports' output lands in tmp: every
    top-level entry of the repository linked in."""
    checkout = tmp / "checkout"
    checkout.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in OUTPUTS | {".git"}:
            (checkout / entry.name).symlink_to(entry)
    return checkout


def _image_layout(tmp: Path) -> tuple[Path, dict[str, str]]:
    """The final stage of service/Dockerfile replayed on the disk: its COPY lines (from the
    build context) under tmp/rootfs, its WORKDIR, and its PYTHONPATH and HOME pointed there.
    The interpreter is this venv's (the image's libraries: tests/unit/test_compose_files.py)."""
    text = DOCKERFILE.read_text()
    stage = text[text.rindex("\nFROM "):]
    rootfs = tmp / "rootfs"

    def inside(path: str) -> Path:
        return rootfs / Path(path).relative_to("/")

    copies = re.findall(r"^COPY (?!--from)(\S+) (\S+)$", stage, re.M)
    assert copies, "service/Dockerfile copies nothing into its final stage"
    for source, dest in copies:
        shutil.copytree(ROOT / source, inside(dest),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (workdir,) = re.findall(r"^WORKDIR (\S+)$", stage, re.M)
    (pythonpath,) = re.findall(r"PYTHONPATH=(\S+)", stage)
    env = _user_env(inside(workdir),
                    PYTHONPATH=os.pathsep.join(str(inside(p)) for p in pythonpath.split(":")))
    # /opt/venv/bin first on PATH, as the image's ENV PATH has it
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return inside(workdir), env


@pytest.fixture(scope="module")
def ran(stack_with_traffic, tmp_path_factory):
    """Each report command of the docs, run once: {command: (result, directory it ran in)}."""
    url = stack_with_traffic.prom.url
    tmp = tmp_path_factory.mktemp("docs-reports")
    checkout = _checkout(tmp)
    home, image_env = _image_layout(tmp)
    runs = {}
    for command in report_commands():
        if command.startswith(EXEC_PREFIX):
            line = command.removeprefix(EXEC_PREFIX).replace("http://prometheus:9090", url)
            runs[command] = (_shell(line, home, image_env), home)
        else:
            line = command.replace("http://localhost:9090", url)
            runs[command] = (_shell(line, checkout, _user_env(tmp / "user-home")), checkout)
    return runs


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr[-3000:]}"
    return result.stdout


def test_the_cost_report_runs_as_the_docs_write_it(ran, stack_with_traffic):
    expected = sum(v for _, v in stack_with_traffic.prom.query(
        "sum(esg_mapping_requests_total)"))
    commands = [c for c in ran if COST in c]
    assert commands
    for command in commands:
        result, where = ran[command]
        stdout = _ok(result)
        assert re.search(r"^Gemini spend over the 7d: \$[\d,.]+; projected month", stdout,
                         re.M), stdout
        out = where / re.search(r"--out (\S+)", command).group(1)
        for name in ("costreport.md", "costreport.html", "spend-by-type.png",
                     "tokens-per-request.png", "savings.png"):
            assert (out / name).stat().st_size > 0, f"{command}: {name}"
        aggregates = json.loads((out / "aggregates.json").read_text())
        assert aggregates["window"] == "7d"
        # it read the stack's traffic, not an empty Prometheus (increase() extrapolates)
        assert sum(aggregates["requests"].values()) >= 0.9 * expected > 0, command


def test_the_ab_report_runs_as_the_docs_write_it(ran, stack_with_traffic):
    name = stack_with_traffic.experiment["name"]
    variants = [v["name"] for v in stack_with_traffic.experiment["variants"]]
    commands = [c for c in ran if AB in c]
    assert commands
    for command in commands:
        result, where = ran[command]
        stdout = _ok(result)
        assert name in stdout and "Verdict:" in stdout, stdout
        assert all(v in stdout for v in variants), stdout
        markdown = re.search(r"--markdown (\S+)", command)
        if markdown:
            assert f"# A/B report: {name}" in (where / markdown.group(1)).read_text()
        written = re.search(r"--json (\S+)", command)
        if written:
            report = json.loads((where / written.group(1)).read_text())
            assert report["experiment"] == name
