"""Prometheus durations ("5m", "1d") and the one knob that shortens them for tests.

The committed rules use scale 1. The end-to-end test builds the same rules with a small
scale, so an alert whose `for:` is 5m fires after 10 s: same definitions, shorter clocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_PART = re.compile(r"(\d+)(ms|[smhdwy])")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: str) -> float:
    """"1h30m" -> 5400.0"""
    parts = _PART.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * _SECONDS[u] for n, u in parts)


def duration(total_seconds: float) -> str:
    """5400 -> "90m": the largest unit that divides evenly; whole seconds, 0 -> "0s"."""
    whole = round(total_seconds)
    if whole == 0:
        return "0s"
    for unit, size in UNITS:
        if whole % size == 0:
            return f"{whole // size}{unit}"
    raise AssertionError("unreachable: seconds divide every whole number")


@dataclass(frozen=True)
class Scale:
    """Multiplies every window and `for:` of the rules; 1 for the committed files."""

    factor: float = 1.0

    def __call__(self, value: str) -> str:
        if self.factor == 1 or value in ("", "0s", "0m"):
            return value or "0s"
        scaled = seconds(value) * self.factor
        return duration(max(scaled, 1.0))


COMMITTED = Scale()
