"""The README's generated blocks (between `<!-- NAME:begin -->` and `<!-- NAME:end -->`).

`python -m alerting.readme` rewrites them (`make dashboards` runs it);
tests/test_readme.py fails when one is stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ai_assist.config import settings_table
from alerting.runbook import readme_table

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


if __name__ == "__main__":
    before = README.read_text()
    after = render(before)
    if "--check" in sys.argv[1:]:
        sys.exit(0 if after == before else "README.md generated blocks are stale: make dashboards")
    README.write_text(after)
