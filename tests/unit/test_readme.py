"""The README is the short front door: a newcomer reads it in minutes, runs the two
commands CI runs, and every link and make target it names exists. The rest is the
documentation site under docs/ (tests/unit/test_docs.py)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_LINES = 250


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.M))


def test_the_readme_is_short():
    lines = README.read_text().count("\n")
    assert lines <= MAX_LINES, f"README.md has {lines} lines; move detail to docs/"


def test_the_readme_test_command_is_what_ci_runs():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    text = README.read_text()
    assert "make test   #" in text and "make demo   #" in text


def test_every_make_target_the_readme_names_exists():
    text = README.read_text()
    named = set(re.findall(r"`make ([a-z][a-z0-9-]*)", text))
    named |= set(re.findall(r"^make ([a-z][a-z0-9-]*)", text, re.M))
    assert named and named <= make_targets(), named - make_targets()


def test_every_relative_link_of_the_readme_exists():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)\s]*)?\)", README.read_text())
    local = [link for link in links if "://" not in link and not link.startswith("mailto:")]
    assert local, "the README links to the docs"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing


def test_the_readme_points_to_every_section_of_the_site():
    """Getting started, architecture, dashboards, alerts, deployment, settings, operations,
    development: a link to at least one page of each."""
    text = README.read_text()
    for page in ("docs/getting-started.md", "docs/architecture.md", "docs/dashboards.md",
                 "docs/alerts.md", "docs/runbook.md", "docs/deployment/compose.md",
                 "docs/deployment/kubernetes.md", "docs/reference/settings.md",
                 "docs/reference/metrics.md", "docs/operations/", "docs/development/"):
        assert f"]({page}" in text, page
