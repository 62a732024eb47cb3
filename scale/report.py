"""The check's table, its plot of cost against N, and the budget verdicts."""

from __future__ import annotations

import json
import os
import platform
from collections import defaultdict
from pathlib import Path

from scale import budgets as b
from scale.run import Measured, Result

EXPR_CHARS = 90


def over_budget(query, replicas: int, stats) -> bool:
    """Whether one measurement breaks a budget (also used to decide on retries)."""
    if query.kind == "panel":
        return (replicas == b.DASHBOARD_AT_REPLICAS and query.range_s == b.DASHBOARD_RANGE_S
                and stats.wall_s > b.DASHBOARD_SECONDS)
    return replicas == b.RULE_SAMPLES_AT_REPLICAS and stats.peak_samples > b.RULE_SAMPLES


def violations(result: Result) -> list[str]:
    out = []
    for m in result.measured:
        if m.stats.error:
            out.append(f"{_where(m)} failed at N={m.replicas}: {m.stats.error}")
        elif m.query.kind == "panel":
            if over_budget(m.query, m.replicas, m.stats):
                out.append(f"{_where(m)} took {m.stats.wall_s:.2f} s over "
                           f"{_range(m.query.range_s)} at N={m.replicas} "
                           f"(budget {b.DASHBOARD_SECONDS:g} s)")
        elif m.replicas == b.RULE_SAMPLES_AT_REPLICAS and (
                m.projected_samples > b.RULE_SAMPLES or m.stats.peak_samples > b.RULE_SAMPLES):
            out.append(f"{_where(m)} loads {_si(m.projected_samples)} samples an evaluation "
                       f"at N={m.replicas} (peak {_si(m.stats.peak_samples)}; "
                       f"budget {_si(b.RULE_SAMPLES)})")
    return out


def _where(m: Measured) -> str:
    return f"{m.query.source}: {m.query.kind} {m.query.name}"


def _si(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def _range(seconds: float) -> str:
    if not seconds:
        return "instant"
    return f"{seconds / 86400:g}d" if seconds >= 86400 and seconds % 86400 == 0 \
        else f"{seconds / 3600:g}h"


def _short(expr: str) -> str:
    expr = " ".join(expr.split())
    return expr if len(expr) <= EXPR_CHARS else expr[:EXPR_CHARS - 1] + "…"


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model or platform.machine()}), {platform.system()}"


def _groups(result: Result):
    """(row title, rows key) -> {N: worst Measured}."""
    rows: dict[str, dict[int, Measured]] = defaultdict(dict)
    for m in result.measured:
        if m.query.kind == "panel":
            key = f"{m.query.source} {_range(m.query.range_s)}"
            worse = lambda a, c: a.stats.wall_s > c.stats.wall_s  # noqa: E731
        else:
            key = m.query.source
            worse = lambda a, c: a.projected_samples > c.projected_samples  # noqa: E731
        current = rows[key].get(m.replicas)
        if current is None or worse(m, current):
            rows[key][m.replicas] = m
    return rows


def table(result: Result, prometheus_version: str, simulated: bool = True) -> str:
    plan = result.plan
    ns = sorted({m.replicas for m in result.measured})
    lines = [f"machine: {machine()}; {prometheus_version}"]
    if simulated:
        lines.append(
            f"history: raw series every {plan.step_s:g} s over the last {plan.raw_hours} h, "
            f"recorded series every {plan.step_s:g} s as far back as read, at most "
            f"{plan.recorded_days} d (per-replica ones, for panels, at most the raw "
            f"{plan.raw_hours} h); "
            f"{result.series_per_replica} series a replica; rules evaluated at the end")
        lines.append("rules: samples projected to the production scrape/evaluation interval "
                     "and 30 d of history (upper bound) / peak samples / time; "
                     "panels: samples / time as measured")
    width = 34
    header = f"{'rule group / dashboard range':<{width}}" + "".join(
        f"{'N=' + str(n):>26}" for n in ns) + "  worst query (largest N)"
    lines += [header, "-" * len(header)]
    for key, by_n in sorted(_groups(result).items(),
                            key=lambda kv: (next(iter(kv[1].values())).query.kind == "panel",
                                            kv[0])):
        cells = []
        for n in ns:
            m = by_n.get(n)
            if m is None:
                cells.append(f"{'-':>26}")
            elif m.query.kind == "panel":
                cells.append(f"{_si(m.stats.total_samples) + ' ' + f'{m.stats.wall_s:.2f}s':>26}")
            else:
                cell = (f"{_si(m.projected_samples)} /{_si(m.stats.peak_samples)} "
                        f"{m.stats.wall_s:.2f}s")
                cells.append(f"{cell:>26}")
        worst = by_n[max(by_n)]
        lines.append(f"{key:<{width}}" + "".join(cells)
                     + f"  {worst.query.name}: {_short(worst.query.expr)}")
    return "\n".join(lines)


def plot(result: Result, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _groups(result)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    for key, by_n in sorted(rows.items()):
        ns = sorted(by_n)
        first = by_n[ns[0]]
        if first.query.kind == "panel":
            if first.query.range_s != b.DASHBOARD_RANGE_S:
                continue
            right.plot(ns, [by_n[n].stats.wall_s for n in ns], marker="o", label=key)
        else:
            left.plot(ns, [max(by_n[n].projected_samples, 1) for n in ns], marker="o",
                      label=key)
    left.axhline(b.RULE_SAMPLES, color="red", linestyle="--", label="budget")
    left.set(xlabel="replicas", ylabel="samples an evaluation (projected)", yscale="log",
             title="worst rule of each group")
    right.axhline(b.DASHBOARD_SECONDS, color="red", linestyle="--", label="budget")
    right.set(xlabel="replicas", ylabel="seconds", title="slowest panel query, 24 h range")
    for axis in (left, right):
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def dump(result: Result, path: Path) -> None:
    rows = [{"replicas": m.replicas, "source": m.query.source, "kind": m.query.kind,
             "name": m.query.name, "range_s": m.query.range_s, "step_s": m.query.step_s,
             "expr": m.query.expr, "samples": m.stats.total_samples,
             "peak_samples": m.stats.peak_samples, "projected_samples": m.projected_samples,
             "exec_s": m.stats.exec_s, "wall_s": m.stats.wall_s, "series": m.stats.series,
             "error": m.stats.error} for m in result.measured]
    path.write_text(json.dumps({"phases_s": result.phases,
                                "samples_written": result.samples_written,
                                "recorded_series": result.recorded_series,
                                "measured": rows}, indent=1))
