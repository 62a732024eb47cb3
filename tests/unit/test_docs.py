"""The documentation site: `mkdocs build --strict` passes (links, anchors, navigation, and
links to repository files through docs/hooks/repo_links.py), the generated reference
pages are fresh and complete, and what the pages name exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ai_assist.config import Settings, env_name, is_secret
from ai_assist.telemetry import metrics as M
from alerting import readme, rules
from observability import generated

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
ENV.pop("AI_ASSIST_REPO_URL", None)


def _mkdocs(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(config), "--site-dir", str(site)], capture_output=True,
                          text=True, timeout=180, env=ENV)


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)


def test_the_site_builds_strictly(tmp_path):
    result = _mkdocs(ROOT / "mkdocs.yml", tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    assert (tmp_path / "site" / "reference" / "metrics" / "index.html").is_file()
    # the runbook keeps the anchors the alerts' runbook_url annotations point at
    runbook = (tmp_path / "site" / "runbook" / "index.html").read_text()
    for alert in rules.all_alerts():
        assert f'id="{alert.anchor}"' in runbook, alert.name


def test_the_strict_build_fails_on_a_link_to_a_missing_repository_file(tmp_path):
    """The hook's check is what makes links from the pages to the code trustworthy."""
    docs = tmp_path / "docs"
    (docs / "hooks").mkdir(parents=True)
    (docs / "hooks" / "repo_links.py").write_text((DOCS / "hooks" / "repo_links.py").read_text())
    (docs / "index.md").write_text("# Home\n\n[ok](../ok.py) and [gone](../gone.py)\n")
    (tmp_path / "ok.py").write_text("")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!ENV", "")) | {
        "nav": ["index.md"], "repo_url": None}
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    result = _mkdocs(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "gone.py" in result.stderr and "ok.py, which" not in result.stderr, result.stderr


def test_every_page_is_in_the_navigation():
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!ENV", ""))["nav"]
    listed = set(re.findall(r"[\w/.-]+\.md", str(nav)))
    pages = {p.relative_to(DOCS).as_posix() for p in _pages()}
    assert pages == listed, (pages - listed, listed - pages)


def test_the_reference_pages_are_fresh():
    stale = generated.stale(*readme._files(ROOT))
    assert not stale, f"run `python -m alerting.readme` (or `make dashboards`): {stale}"


def test_the_check_command_names_a_stale_page(tmp_path):
    for path, text in readme.pages(tmp_path).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert readme.main(["--check", "--root", str(tmp_path)]) == 0
    page = tmp_path / "docs" / "reference" / "settings.md"
    page.write_text(page.read_text().replace("AI_ASSIST_PORT", "AI_ASSIST_PORTS"))
    (tmp_path / "docs" / "reference" / "orphan.md").write_text("# not generated\n")
    assert readme.main(["--check", "--root", str(tmp_path)]) == 1


def test_the_settings_page_lists_every_setting_with_its_default():
    page = (DOCS / "reference" / "settings.md").read_text().split("## Alert routing")[0]
    for name, info in Settings.model_fields.items():
        (row,) = [line for line in page.splitlines()
                  if line.startswith(f"| `{env_name(info)}` |")]
        assert f"Settings.{name}" in row
        if not is_secret(info) and info.default not in ("", None):
            shown = str(info.default).lower() if isinstance(info.default, bool) \
                else str(info.default)
            assert f"| `{shown}` |" in row, row


def test_the_metrics_page_lists_every_metric_and_recording_rule():
    page = (DOCS / "reference" / "metrics.md").read_text()
    for metric in M.CATALOGUE:
        assert f"| `{metric.name}` | {metric.kind} |" in page, metric.name
    for recording in rules.all_recordings():
        assert f"| `{recording.record}` |" in page, recording.record


def test_the_alerts_page_has_a_row_per_rule_linking_its_runbook_entry():
    page = (DOCS / "reference" / "alerts.md").read_text()
    runbook = (DOCS / "runbook.md").read_text()
    for alert in rules.all_alerts():
        assert f"| {alert.name} | {alert.severity} |" in page, alert.name
        assert f"(../runbook.md#{alert.anchor})" in page
        assert f"\n### {alert.name}\n" in runbook, alert.name


def test_every_reference_row_links_to_a_file_of_the_repository():
    for page in (DOCS / "reference").glob("*.md"):
        lines = page.read_text().splitlines()
        rows = [line for i, line in enumerate(lines) if line.startswith("| ")
                and not (i + 1 < len(lines) and lines[i + 1].startswith("|---"))]
        assert rows, page.name
        for row in rows:
            links = re.findall(r"\]\((\.\./\.\./[^)#]+)\)", row)
            assert links, f"{page.name}: a row without its source: {row[:80]}"
            for link in links:
                assert (page.parent / link).resolve().is_file(), (page.name, link)


@pytest.mark.parametrize("page", [p for p in _pages() if p.name != "runbook.md"],
                         ids=lambda p: p.relative_to(DOCS).as_posix())
def test_every_make_target_a_page_names_exists(page):
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.M))
    named = set(re.findall(r"`make ([a-z][a-z0-9-]*)", page.read_text()))
    named |= set(re.findall(r"^make ([a-z][a-z0-9-]*)", page.read_text(), re.M))
    assert named <= targets, named - targets
