"""The README's generated blocks (between `<!-- NAME:begin -->` and `<!-- NAME:end -->`).

`python -m alerting.readme` rewrites them (`make dashboards` runs it); with `--check` it
writes nothing and exits 1 when one is stale (tests/test_readme.py fails then too).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ai_assist.config import settings_table
from alerting.runbook import readme_table
from observability import generated

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = {"settings": settings_table, "alerts": readme_table}


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- {name}:begin -->\n)(.*?)(<!-- {name}:end -->)", re.S)


def current(text: str, name: str) -> str | None:
    found = _pattern(name).search(text)
    return found.group(2).strip() if found else None


def render(text: str) -> str:
    for name, make in BLOCKS.items():
        text = _pattern(name).sub(lambda m: m.group(1) + make().strip() + "\n" + m.group(3),
                                  text)
    return text


def _files(readme: Path) -> tuple[dict[Path, str], generated.Owned]:
    return {readme: render(readme.read_text())}, []


def main(argv: list[str] | None = None) -> int:
    return generated.main(argv, "alerting.readme", __doc__, "--readme", README, _files,
                          "wrote the generated blocks of {where}")


if __name__ == "__main__":
    sys.exit(main())
