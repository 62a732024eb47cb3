"""Which fault (if any) a call gets: from markers in the prompt, else by configured rate."""

from __future__ import annotations

import hashlib
import random
import re
from collections import OrderedDict

from gemini_emulator.config import FAULTS, EmulatorConfig

MARKER = re.compile(r"\[\[emulate:(?P<fault>[a-z0-9_]+)(?:\*(?P<count>\d+))?\]\]",
                    re.IGNORECASE)
MAX_TRACKED_PROMPTS = 10_000


class MarkerError(ValueError):
    pass


def markers(prompt: str) -> list[tuple[str, int | None]]:
    """(fault, count) for each marker in order; count None means every call."""
    out = []
    for m in MARKER.finditer(prompt):
        fault = m.group("fault").lower()
        if fault not in FAULTS:
            raise MarkerError(f"unknown emulator marker [[emulate:{m.group('fault')}]]; "
                              f"known faults: {', '.join(FAULTS)}")
        out.append((fault, int(m.group("count")) if m.group("count") else None))
    return out


class FaultPlan:
    """Remembers how often each marked prompt was seen, so `503*2` fails twice."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.reset(config)

    def reset(self, config: EmulatorConfig) -> None:
        self._seen: OrderedDict[str, int] = OrderedDict()
        self.reseed(config)

    def reseed(self, config: EmulatorConfig) -> None:
        self.rng = random.Random(config.seed)

    def decide(self, prompt: str, config: EmulatorConfig) -> str | None:
        found = markers(prompt)
        if found:
            return self._from_markers(prompt, found)
        return self._by_rate(config)

    def _from_markers(self, prompt: str, found: list[tuple[str, int | None]]) -> str | None:
        key = hashlib.sha256(prompt.encode()).hexdigest()
        call = self._seen.pop(key, 0)
        self._seen[key] = call + 1
        while len(self._seen) > MAX_TRACKED_PROMPTS:
            self._seen.popitem(last=False)
        for fault, count in found:
            if count is None or call < count:
                return fault
            call -= count
        return None

    def _by_rate(self, config: EmulatorConfig) -> str | None:
        if not any(config.fault_rates.values()):
            return None
        draw, total = self.rng.random(), 0.0
        for fault in FAULTS:
            total += config.fault_rates.get(fault, 0.0)
            if draw < total:
                return fault
        return None
