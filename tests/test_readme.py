"""The README is for users: its generated tables must say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ai_assist.config import settings_table

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def block(name: str) -> str:
    found = re.search(rf"<!-- {name}:begin -->\n(.*?)<!-- {name}:end -->", README, re.S)
    assert found, f"README has no {name} block"
    return found.group(1).strip()


def test_settings_table_is_the_settings():
    assert block("settings") == settings_table(), \
        "README settings table is stale: paste `python -m ai_assist.config`"


def test_every_alert_is_listed_with_its_runbook():
    alerts = {rule["alert"] for path in (ROOT / "prometheus" / "rules").glob("*.yml")
              for group in yaml.safe_load(path.read_text())["groups"]
              for rule in group["rules"] if "alert" in rule}
    assert alerts
    listed = block("alerts")
    missing = sorted(a for a in alerts if f"`{a}`" not in listed)
    assert not missing, f"alerts missing from the README: {missing}"
    assert "docs/runbook.md" in listed


def test_the_test_command_is_what_ci_runs():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test " in README or "make test\n" in README or "make test  " in README
