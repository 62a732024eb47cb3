"""OpenMetrics text of the simulated replicas, one file per TSDB block range.

The file is family-major (a family's TYPE line, then all its series), series-major
within a family (every sample of one series in time order; a histogram's buckets,
count and sum side by side at each timestamp), as the OpenMetrics format and
`promtool tsdb create-blocks-from openmetrics` require. Timestamps are in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TextIO

import numpy as np

from ai_assist import ports
from observability.selectors import SELECTORS
from scale.series import Family, Labels
from scale.traffic import UP, FamilyState, Replica, up_values


def instance(i: int) -> str:
    return f"replica-{i:03d}:{ports.SERVICE}"


def target_labels(i: int, namespace: str) -> Labels:
    return ((SELECTORS.job_label, SELECTORS.job), ("instance", instance(i)),
            (SELECTORS.namespace_label, namespace))


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def prefix(name: str, labels: Iterable[tuple[str, str]]) -> str:
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return f"{name}{{{body}}} "


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _lines(head: str, values: np.ndarray, stamps: Sequence[str]) -> list[str]:
    if np.isfinite(values).all():
        return [f"{head}{v!r}{t}" for v, t in zip(values.tolist(), stamps)]
    return [f"{head}{_number(v)}{t}" for v, t in zip(values.tolist(), stamps)]


@dataclass
class Recorded:
    """A recording rule's output series: its name, labels and a typical value."""

    name: str
    labels: Labels
    value: float


def write_families(out: TextIO, families: Sequence[Family], replicas: Sequence[Replica],
                   states: Sequence[dict[str, FamilyState]], rngs, times: np.ndarray,
                   sl: slice, step: float, namespace: str) -> int:
    """The raw series of every replica for samples `sl` of `times`; returns the count."""
    stamps = [f" {int(t)}\n" for t in times[sl].tolist()]
    written = 0
    targets = [target_labels(i, namespace) for i in range(len(replicas))]
    for family in families:
        out.write(f"# TYPE {family.name} {family.kind}\n")
        for i, replica in enumerate(replicas):
            values = states[i][family.name].values(rngs[i], replica, sl, times, step)
            for g, labels in enumerate(family.groups):
                full = (*targets[i], *labels)
                if family.kind == "histogram":
                    rows = [prefix(f"{family.name}_bucket", (*full, ("le", le)))
                            for le in family.buckets]
                    rows += [prefix(f"{family.name}_count", full),
                             prefix(f"{family.name}_sum", full)]
                    columns = [_lines(head, values[g, j], stamps)
                               for j, head in enumerate(rows)]
                    out.write("".join(chain.from_iterable(zip(*columns))))
                    written += len(rows) * len(stamps)
                else:
                    out.write("".join(_lines(prefix(family.sample_names[0], full),
                                             values[g], stamps)))
                    written += len(stamps)
    out.write(f"# TYPE {UP} gauge\n")
    for i, replica in enumerate(replicas):
        out.write("".join(_lines(prefix(UP, targets[i]), up_values(replica, sl), stamps)))
        written += len(stamps)
    return written


def write_recorded(out: TextIO, recorded: Sequence[Recorded], rng: np.random.Generator,
                   times: np.ndarray) -> int:
    """Recording rules' series at `times`: each near its typical value."""
    stamps = [f" {int(t)}\n" for t in times.tolist()]
    by_name: dict[str, list[Recorded]] = {}
    for r in recorded:
        by_name.setdefault(r.name, []).append(r)
    for name, series in by_name.items():
        out.write(f"# TYPE {name} gauge\n")
        for r in series:
            values = r.value * (1 + 0.02 * rng.standard_normal(len(stamps)))
            out.write("".join(_lines(prefix(name, r.labels), values, stamps)))
    return len(recorded) * len(stamps)


def end(out: TextIO) -> None:
    out.write("# EOF\n")
