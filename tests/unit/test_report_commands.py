"""The docs' report commands (docs/deployment/compose.md, docs/operations/) and the compose
facts they rely on (Prometheus published on loopback, the experiment override the docs
give). Run as written against a real Prometheus after real traffic:
tests/stack/test_report_commands_on_prometheus.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ai_assist.experiments import load_experiment
from tests.harness.compose import (COMPOSE_FILE, DUMMY_PASSWORD, ROOT, resolved_config,
                                   run_compose)
from tests.harness.report_commands import AB, COST, EXEC_PREFIX, code_blocks, report_commands


def _published_prometheus() -> tuple[str, int, int]:
    (port,) = resolved_config()["services"]["prometheus"]["ports"]
    return port["host_ip"], int(port["published"]), int(port["target"])


def test_the_docs_give_both_reports_from_a_checkout_and_from_the_stack():
    commands = report_commands()
    for kind in (COST, AB):
        checkout = [c for c in commands if kind in c and not c.startswith(EXEC_PREFIX)]
        inside = [c for c in commands if kind in c and c.startswith(EXEC_PREFIX)]
        assert checkout and inside, f"docs: {kind}: {commands}"


def test_the_docs_reports_read_the_address_compose_publishes():
    host_ip, published, target = _published_prometheus()
    assert host_ip == "127.0.0.1"
    for command in report_commands():
        (url,) = re.findall(r"--prometheus (\S+)", command)
        if command.startswith(EXEC_PREFIX):
            assert url == f"http://prometheus:{target}", command
        else:
            assert url == f"http://localhost:{published}", command


def test_the_docs_experiment_override_is_valid_compose(tmp_path):
    """The docker-compose.override.yml the docs give for an A/B experiment: compose's
    own parser merges it, and the service reads the file it mounts."""
    (override,) = [b for b in code_blocks("yaml") if "AI_ASSIST_EXPERIMENT_FILE" in b]
    path = tmp_path / "docker-compose.override.yml"
    path.write_text(override)
    result = run_compose("config", "--format", "json", files=(COMPOSE_FILE, path),
                         env={"GRAFANA_ADMIN_PASSWORD": DUMMY_PASSWORD})
    assert result.returncode == 0, result.stderr
    service = json.loads(result.stdout)["services"]["ai-assist"]
    target = service["environment"]["AI_ASSIST_EXPERIMENT_FILE"]
    (mount,) = [m for m in service["volumes"] if m["target"] == target]
    assert mount["type"] == "bind" and mount["read_only"]
    example = ROOT / "docs" / "examples" / "experiment" / Path(mount["source"]).name
    assert load_experiment(example).name == example.stem, "the docs' example file"
