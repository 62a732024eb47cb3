"""The committed Alertmanager config on a real Alertmanager (the static checks of the
rules, the config and the runbook: tests/unit/test_alerting_rules.py)."""

from __future__ import annotations

import requests
import yaml

from alerting import build
from tests.harness.prom import start_alertmanager


def test_alertmanager_starts_on_the_committed_config_before_any_secret_exists(tmp_path):
    """`docker compose up` with an empty alerting/secrets/: Alertmanager must still run and
    hold the routes; only the sends wait for the files."""
    alertmanager = start_alertmanager(tmp_path, build.ALERTMANAGER_YML)
    try:
        status = requests.get(f"{alertmanager.url}/api/v2/status", timeout=10).json()
        loaded = yaml.safe_load(status["config"]["original"])
        assert {r["name"] for r in loaded["receivers"]} >= {"critical", "warning"}
    finally:
        alertmanager.stop()
