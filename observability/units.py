"""Values in words and in alert templates, by Grafana unit id (the Threshold's unit).

`render` replays the few Prometheus template functions the rules use (humanize,
humanizePercentage, humanizeDuration; Go's %.4g), so the generated promtool tests can
state the exact annotation an alert carries. promtool fails when the two disagree.
"""

from __future__ import annotations

import math
import re

VALUE_FILTER = {"s": "humanizeDuration", "percentunit": "humanizePercentage"}
SUFFIX = {"reqpm": " req/min"}


def value_template(unit: str) -> str:
    """The alert's current value, as its description shows it."""
    return f"{{{{ $value | {VALUE_FILTER.get(unit, 'humanize')} }}}}{SUFFIX.get(unit, '')}"


def _g4(value: float) -> str:
    return "%.4g" % value


def humanize(value: float) -> str:
    if value == 0 or math.isnan(value) or math.isinf(value):
        return _g4(value)
    if abs(value) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(value) < 1000:
                break
            prefix, value = p, value / 1000
        return _g4(value) + prefix
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix, value = p, value * 1000
    return _g4(value) + prefix


def humanize_percentage(value: float) -> str:
    return _g4(value * 100) + "%"


def humanize_duration(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return _g4(value)
    if value == 0:
        return _g4(value) + "s"
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        value = abs(value)
        whole = int(value)
        secs, mins, hours, days = whole % 60, whole // 60 % 60, whole // 3600 % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {mins}m {secs}s"
        if hours:
            return f"{sign}{hours}h {mins}m {secs}s"
        if mins:
            return f"{sign}{mins}m {secs}s"
        return f"{sign}{_g4(value)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix, value = p, value * 1000
    return f"{_g4(value)}{prefix}s"


FILTERS = {"humanize": humanize, "humanizePercentage": humanize_percentage,
           "humanizeDuration": humanize_duration}
_ACTION = re.compile(r"\{\{\s*(\$value|\$labels\.(\w+))\s*(?:\|\s*(\w+)\s*)?\}\}")


def render(template: str, value: float, labels: dict[str, str]) -> str:
    """`template` as Prometheus expands it, for the actions the rules use."""

    def action(match: re.Match) -> str:
        if match.group(2):
            return labels.get(match.group(2), "")
        function = match.group(3)
        if function is None:
            raise ValueError(f"use a humanize function on $value: {template!r}")
        return FILTERS[function](value)

    out = _ACTION.sub(action, template)
    if "{{" in out:
        raise ValueError(f"template action this renderer does not know: {template!r}")
    return out


def words(value: float, unit: str) -> str:
    """A threshold in plain words: 45 s, 5 %, 50 req/min, 5M."""
    if unit == "s":
        return f"{value:g} s"
    if unit == "percentunit":
        return f"{value * 100:g}%"
    if unit == "reqpm":
        return f"{value:g} req/min"
    if unit == "short":
        return humanize(value)
    return f"{value:g}"
