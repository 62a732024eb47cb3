"""Compile the alerting sources to the files Prometheus, Alertmanager and people read.

    python -m alerting.build           write them
    python -m alerting.build --check   write nothing; exit 1 naming every stale file

prometheus/rules/*.yml    recording and alert rules (alerting/rules.py)
prometheus/tests/*.yml    promtool unit tests of every alert (alerting/unittests.py)
alerting/alertmanager.yml routes, receivers, inhibition (alerting/alertmanager.py)
docs/runbook.md           an entry for every alert (alerting/runbook.py)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "service") not in sys.path:  # `python -m alerting.build` without PYTHONPATH
    sys.path.insert(0, str(ROOT / "service"))

from alerting import alertmanager, rules, runbook, unittests  # noqa: E402
from observability import generated  # noqa: E402

RULES_DIR = ROOT / "prometheus" / "rules"
TESTS_DIR = ROOT / "prometheus" / "tests"
ALERTMANAGER_YML = alertmanager.COMMITTED_FILE
RUNBOOK_MD = ROOT / "docs" / "runbook.md"
# Directories this build owns: files there that it does not write are stale.
OWNED = ((RULES_DIR, "*.yml"), (TESTS_DIR, "*.yml"))


def compiled(root: Path = ROOT) -> dict[Path, str]:
    """Path (under `root`) -> text of every generated file."""
    def under(path: Path) -> Path:
        return root / path.relative_to(ROOT)

    out = {under(RULES_DIR / name): text for name, text in rules.rule_files().items()}
    out.update({under(TESTS_DIR / name): text
                for name, text in unittests.test_files().items()})
    out[under(ALERTMANAGER_YML)] = alertmanager.render()
    out[under(RUNBOOK_MD)] = runbook.runbook()
    return out


def _files(root: Path) -> tuple[dict[Path, str], generated.Owned]:
    owned = [(root / directory.relative_to(ROOT), pattern) for directory, pattern in OWNED]
    return compiled(root), owned


def stale(root: Path = ROOT) -> list[Path]:
    return generated.stale(*_files(root))


def main(argv: list[str] | None = None) -> int:
    return generated.main(argv, "alerting.build", __doc__, "--root", ROOT, _files,
                          "wrote {n} files: rules, promtool tests, alertmanager.yml, runbook")


if __name__ == "__main__":
    sys.exit(main())
