"""Alloy ships the logs of this compose project's containers only: another project on the
same Docker host (its own `web`, `grafana`, `ai-assist`...) must not reach our Loki, where
its streams would merge with ours under the same `service` label."""

from __future__ import annotations

import json
import re

import yaml

from tests.harness.compose import COMPOSE_FILE, DUMMY_PASSWORD, resolved_config, run_compose
from tests.harness.processes import ROOT

ALLOY = ROOT / "loki" / "config.alloy"
PROJECT_LABEL = "__meta_docker_container_label_com_docker_compose_project"


def _keep_rules() -> list[str]:
    source = re.sub(r"^\s*//.*$", "", ALLOY.read_text(), flags=re.M)
    relabel = source.split('discovery.relabel "compose"', 1)[1]
    return [rule for rule in re.findall(r"rule\s*\{(.*?)\}", relabel, re.S)
            if re.search(r'action\s*=\s*"keep"', rule)]


def test_alloy_keeps_only_the_containers_of_this_compose_project():
    project = yaml.safe_load(COMPOSE_FILE.read_text())["name"]
    (rule,) = [r for r in _keep_rules() if PROJECT_LABEL in r]
    (regex,) = re.findall(r"regex\s*=\s*(.+)", rule)
    # The project's name from the environment compose gives Alloy, else compose's `name:`.
    assert regex.strip() == f'coalesce(sys.env("COMPOSE_PROJECT_NAME"), "{project}")'
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", project), "a name with no regex meaning"


def test_compose_tells_alloy_its_project_name():
    environment = resolved_config()["services"]["alloy"]["environment"]
    assert environment["COMPOSE_PROJECT_NAME"] == yaml.safe_load(COMPOSE_FILE.read_text())["name"]
    # `docker compose -p other up`: Alloy keeps the containers of project "other".
    result = run_compose("-p", "ai-assist-staging", "config", "--format", "json",
                         env={"GRAFANA_ADMIN_PASSWORD": DUMMY_PASSWORD})
    assert result.returncode == 0, result.stderr
    alloy = json.loads(result.stdout)["services"]["alloy"]
    assert alloy["environment"]["COMPOSE_PROJECT_NAME"] == "ai-assist-staging"
