"""Walk the compiled dashboards: every panel (rows' nested panels included) and every
query, and fill Grafana's variables the way Grafana does before it sends a query."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator, NamedTuple

from observability.uids import LOKI_UID, PROMETHEUS_UID

# Lines of coverage ("targets proven / total") that the proofs report; tests/conftest.py
# prints them at the end of the run.
COVERAGE: list[str] = []

# How each class of issue 20's breakages is proven (the mutation runner prints it beside
# each class's kills, tests/stack/test_mutations.py).
HOW_PROVEN = {
    "query": "each panel target against the traffic's truth (client records, emulator "
             "counters, prices from Google's page) and without its idle guards",
    "quantile level": "each quantile target at the level its title claims, bounded both "
                      "ways by the raw buckets and by the client's own latencies; the "
                      "traffic's latency tail puts p50, p95 and p99 in three buckets",
    "constants": "prices written from Google's page (tests/harness/prices.py), burn "
                 "factors checked against the SRE workbook's table, not imported",
    "recording rules": "names say their window and operation (test_recording_names); every "
                       "recorded series equals the traffic's truth at its end and 5 minutes "
                       "after its pause, where a wrong window or operation changes the value "
                       "(recorded-series truth); a mutated rule, renamed, is backfilled over "
                       "the traffic by promtool into a shadow Prometheus and judged by the "
                       "panel and recorded-series truths; burn windows by promtool scenarios "
                       "with rates that change minute by minute",
    "anomaly band": "the recorded band against numpy over the same samples, and promtool "
                    "scenarios where the band's edge decides firing",
    "cache": "the cache panels' proof per token type at each type's price, on a cache "
             "stack of its own",
    "build crash": "a generator that fails on the copy counts as a kill",
}

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = ROOT / "dashboards" / "json"

# What the dashboards' own variables hold when "All" is selected (allValue), and the
# datasource variables' defaults.
DEFAULT_VALUES = {"cluster": ".*", "namespace": ".*", "instance": ".*", "model": ".*",
                  "datasource": PROMETHEUS_UID,
                  "loki": LOKI_UID}


class Query(NamedTuple):
    dashboard: str  # uid
    panel: str  # title
    ref: str  # legend, or refId when the target has none
    kind: str  # datasource type: prometheus | loki
    expr: str
    panel_json: dict
    target_json: dict


def load_dashboards(directory: Path = DASHBOARD_DIR) -> dict[str, dict]:
    """uid -> dashboard JSON of every compiled dashboard."""
    out = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        out[data["uid"]] = data
    return out


def iter_panels(dashboard: dict) -> Iterator[dict]:
    """Every panel, rows themselves and the panels nested in collapsed rows included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def datasource_kind(panel: dict, target: dict) -> str:
    source = target.get("datasource") or panel.get("datasource") or {}
    return source.get("type", "") if isinstance(source, dict) else ""


def iter_queries(dashboard: dict) -> Iterator[Query]:
    for panel in iter_panels(dashboard):
        for target in panel.get("targets", []):
            yield Query(dashboard["uid"], panel.get("title", ""),
                        target.get("legendFormat") or target.get("refId", ""),
                        datasource_kind(panel, target), target.get("expr", ""), panel, target)


def all_queries(dashboards: dict[str, dict] | None = None) -> list[Query]:
    dashboards = dashboards if dashboards is not None else load_dashboards()
    return [q for d in dashboards.values() for q in iter_queries(d)]


def loki_label_filters(expr: str) -> list[tuple[str, str, str]]:
    """(field, operator, value) of every label filter stage after a LogQL selector."""
    return re.findall(r'\|\s*([A-Za-z_]\w*)\s*(=~|!~|!=|==|>=|<=|=|>|<)\s*("[^"]*"|[\w.]+)',
                      expr)


def duration(seconds: float) -> str:
    """A Prometheus duration, as Grafana writes its interval variables."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def rate_interval_s(interval_s: float, scrape_interval_s: float) -> float:
    """Grafana's $__rate_interval: max($__interval + scrape interval, 4 x scrape interval)."""
    return max(interval_s + scrape_interval_s, 4 * scrape_interval_s)


_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def _format(value) -> str:
    if isinstance(value, (list, tuple)):  # a multi-value selection in a regex matcher
        return value[0] if len(value) == 1 else "(" + "|".join(value) + ")"
    return str(value)


def fill_variables(expr: str, range_s: float, interval_s: float, scrape_interval_s: float,
                   values: dict | None = None) -> str:
    """`expr` as Grafana sends it, for a dashboard range of `range_s` and an $__interval
    of `interval_s`, the datasource's scrape interval being `scrape_interval_s`.

    Template variables take `values`, else their All value / default; an unknown
    variable raises KeyError, so a query never reaches Prometheus half filled.
    """
    builtins = {
        "__rate_interval": duration(rate_interval_s(interval_s, scrape_interval_s)),
        "__interval": duration(interval_s),
        "__interval_ms": str(round(interval_s * 1000)),
        "__range": duration(range_s),
        "__range_s": str(int(range_s)),
        "__range_ms": str(round(range_s * 1000)),
    }
    variables = {**DEFAULT_VALUES, **(values or {})}

    def substitute(match: re.Match) -> str:
        name = next(g for g in match.groups() if g)
        if name in builtins:
            return builtins[name]
        if name in variables:
            return _format(variables[name])
        raise KeyError(f"unknown Grafana variable ${name} in {expr!r}")

    return _VARIABLE.sub(substitute, expr)


_GUARD = re.compile(r"\s+or\s+on\s*\([^)]*\)\s+")


def _operand_end(expr: str, start: int) -> int:
    """Where the right operand of an `or` starting at `start` ends: the parenthesis that
    closes the enclosing group, or the end (`or` binds loosest)."""
    depth = 0
    for index in range(start, len(expr)):
        char = expr[index]
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return index
            depth -= 1
    return len(expr)


def strip_guards(expr: str) -> str:
    """`expr` without the clauses that only decide what an idle service shows:
    `or on(...) vector(N)` and `or on(...) <expr> * 0`. What is left must return a real
    series whenever the traffic drove the query's inputs."""
    while True:
        for match in _GUARD.finditer(expr):
            end = _operand_end(expr, match.end())
            operand = expr[match.end():end].strip()
            if re.fullmatch(r"vector\(\s*[0-9.]+\s*\)", operand) or operand.endswith("* 0"):
                expr = expr[:match.start()] + expr[end:]
                break
        else:
            return expr
