"""Compile the alerting sources to the files Prometheus, Alertmanager and people read.

    python -m alerting.build           write them
    python -m alerting.build --check   write nothing; exit 1 naming every stale file

prometheus/rules/*.yml    recording and alert rules (alerting/rules.py)
prometheus/tests/*.yml    promtool unit tests of every alert (alerting/unittests.py)
alerting/alertmanager.yml routes, receivers, inhibition (alerting/alertmanager.py)
docs/runbook.md           an entry for every alert (alerting/runbook.py)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "service") not in sys.path:  # `python -m alerting.build` without PYTHONPATH
    sys.path.insert(0, str(ROOT / "service"))

from alerting import alertmanager, rules, runbook, unittests  # noqa: E402

RULES_DIR = ROOT / "prometheus" / "rules"
TESTS_DIR = ROOT / "prometheus" / "tests"
ALERTMANAGER_YML = ROOT / "alerting" / "alertmanager.yml"
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


def orphans(fresh: dict[Path, str], root: Path = ROOT) -> list[Path]:
    return [path for directory, pattern in OWNED
            for path in sorted((root / directory.relative_to(ROOT)).glob(pattern))
            if path not in fresh]


def stale(root: Path = ROOT) -> list[Path]:
    fresh = compiled(root)
    problems = [path for path, text in fresh.items()
                if not path.is_file() or path.read_text() != text]
    return sorted(problems + orphans(fresh, root))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alerting.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a committed file is stale")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check:
        problems = stale(args.root)
        for path in problems:
            print(f"stale: {path} (run `python -m alerting.build`)", file=sys.stderr)
        return 1 if problems else 0
    fresh = compiled(args.root)
    for path, text in fresh.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for orphan in orphans(fresh, args.root):
        orphan.unlink()
    print(f"wrote {len(fresh)} files: rules, promtool tests, alertmanager.yml, runbook")
    return 0


if __name__ == "__main__":
    sys.exit(main())
