"""The canary's golden sets as the tests write them (tests/unit/test_canary.py and
tests/stack/test_canary_on_prometheus.py)."""

from __future__ import annotations

import json
from pathlib import Path


def write_set(path: Path, items: list[dict], top_k: int = 3) -> Path:
    path.write_text(json.dumps({"top_k": top_k, "items": items}, ensure_ascii=False))
    return path
