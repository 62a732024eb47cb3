"""The README is for users: its generated tables must say what the code does."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting.readme import BLOCKS, README, current

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_generated_block_is_fresh(name):
    shown = current(README.read_text(), name)
    assert shown is not None, f"README has no {name} block"
    assert shown == BLOCKS[name]().strip(), f"README {name} block is stale: make dashboards"


def test_the_readme_test_command_is_what_ci_runs():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test   #" in README.read_text()
