"""The report commands the docs give (docs/deployment/compose.md, docs/operations/), read
from the pages: tests/unit/test_report_commands.py checks what they name,
tests/stack/test_report_commands_on_prometheus.py runs them."""

from __future__ import annotations

import re

from tests.harness.compose import ROOT

# The pages that give the report commands and the experiment override.
PAGES = (ROOT / "docs" / "deployment" / "compose.md",
         ROOT / "docs" / "operations" / "cost-report.md",
         ROOT / "docs" / "operations" / "experiments.md")
EXEC_PREFIX = "docker compose exec ai-assist "
COST, AB = "-m ai_assist.costreport --prometheus", "-m ai_assist.experiments report --prometheus"


def code_blocks(language: str) -> list[str]:
    return [block for page in PAGES
            for block in re.findall(rf"^```{language}\n(.*?)^```", page.read_text(), re.M | re.S)]


def report_commands() -> list[str]:
    """Every shell command of the pages' bash blocks that runs a report, continuation
    lines joined, each once."""
    found: list[str] = []
    for block in code_blocks("bash"):
        for command in re.sub(r"\\\n\s*", "", block).splitlines():
            command = command.strip()
            if (COST in command or AB in command) and not command.startswith("#") \
                    and command not in found:
                found.append(command)
    return found
