"""The committed Prometheus rule files, read as Prometheus reads them, and the series
selectors inside a rule's expression."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from alerting.build import RULES_DIR, TESTS_DIR  # noqa: F401  (re-exported)

KEYWORDS = {"and", "or", "unless", "on", "ignoring", "by", "without", "group_left",
            "group_right", "bool", "offset", "inf", "nan"}
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_SELECTOR = re.compile(r"(?<![\w:.\"])([A-Za-z_:][\w:]*)\s*(\{[^}]*\})?(?!\s*\(|[\w:])")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def load_rules(paths=None) -> list[dict]:
    """Every rule of every group, with the group's name and file added."""
    out = []
    for path in paths or rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                out.append({**rule, "group": group["name"], "file": path.name})
    return out


def alerts() -> list[dict]:
    return [r for r in load_rules() if "alert" in r]


def recordings() -> list[dict]:
    return [r for r in load_rules() if "record" in r]


def selectors(expr: str) -> list[str]:
    """Every series selector (`name{matchers}`) in a PromQL expression, in order."""
    strings: list[str] = []

    def hide(match: re.Match) -> str:
        strings.append(match.group())
        return f'"{len(strings) - 1}"'

    masked = _GROUPING.sub(" ", _STRING.sub(hide, expr))
    masked = re.sub(r"\[[^\]]*\]", " ", masked)  # ranges and subquery steps
    masked = re.sub(r"\boffset\s+\S+", " ", masked)
    found = []
    for match in _SELECTOR.finditer(masked):
        name, matchers = match.group(1), match.group(2) or ""
        if name in KEYWORDS:
            continue
        matchers = re.sub(r'"(\d+)"', lambda m: strings[int(m.group(1))], matchers)
        found.append(name + matchers)
    return list(dict.fromkeys(found))


def metric_name(selector: str) -> str:
    return selector.split("{", 1)[0]
