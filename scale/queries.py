"""What the check evaluates: every recording rule and alert expression of the generated
rule files, and every Prometheus target of the compiled dashboards as Grafana sends it.

Dashboards: the dashboard's own variables take their All value (allValue) and the
datasource variables their uid; $__interval is the query's step and $__rate_interval
max($__interval + scrape interval, 4 x scrape interval), as Grafana computes them. The
step is Grafana's: range / max data points (the panel's maxDataPoints, else about 1000
pixels of width), rounded up to a second, never below the scrape interval.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from observability.uids import LOKI_UID, PROMETHEUS_UID

GRAFANA_MAX_DATA_POINTS = 1000
DATASOURCE_UIDS = {"prometheus": PROMETHEUS_UID, "loki": LOKI_UID}


@dataclass(frozen=True)
class Query:
    source: str  # the rule group, or the dashboard's uid
    kind: str  # record | alert | panel
    name: str  # the recorded name, the alert, or the panel's title
    expr: str  # as sent to Prometheus
    range_s: float = 0.0  # 0: an instant query at the end of the history
    step_s: float = 0.0


def rule_queries(rules_dir: Path) -> list[Query]:
    out = []
    for path in sorted(Path(rules_dir).glob("*.yml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            for rule in group.get("rules", []):
                kind = "record" if "record" in rule else "alert"
                out.append(Query(group["name"], kind, rule.get("record") or rule["alert"],
                                 str(rule["expr"])))
    return out


def recorded_names(rules_dir: Path) -> set[str]:
    return {q.name for q in rule_queries(rules_dir) if q.kind == "record"}


def load_dashboards(dashboards_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(Path(dashboards_dir).glob("*.json"))]


def _panels(dashboard: dict):
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def _variables(dashboard: dict) -> dict[str, str]:
    values = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "datasource":
            values[variable["name"]] = DATASOURCE_UIDS.get(variable.get("query"), "")
        elif variable.get("includeAll"):
            values[variable["name"]] = variable.get("allValue") or ".*"
        else:
            current = (variable.get("current") or {}).get("value", "")
            values[variable["name"]] = current[0] if isinstance(current, list) else current
    return values


def duration(seconds: float) -> str:
    """A Prometheus duration, as Grafana writes its interval variables."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def grafana_step(range_s: float, scrape_s: float, max_data_points: int | None) -> float:
    points = max_data_points or GRAFANA_MAX_DATA_POINTS
    return float(max(math.ceil(range_s / points), scrape_s))


_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def fill_variables(expr: str, range_s: float, step_s: float, scrape_s: float,
                   values: dict[str, str]) -> str:
    builtins = {
        "__rate_interval": duration(max(step_s + scrape_s, 4 * scrape_s)),
        "__interval": duration(step_s),
        "__interval_ms": str(round(step_s * 1000)),
        "__range": duration(range_s),
        "__range_s": str(int(range_s)),
        "__range_ms": str(round(range_s * 1000)),
    }

    def substitute(match: re.Match) -> str:
        name = next(g for g in match.groups() if g)
        if name in builtins:
            return builtins[name]
        if name in values:
            return values[name]
        raise KeyError(f"unknown Grafana variable ${name} in {expr!r}")

    return _VARIABLE.sub(substitute, expr)


def _is_prometheus(panel: dict, target: dict) -> bool:
    source = target.get("datasource") or panel.get("datasource") or {}
    return isinstance(source, dict) and source.get("type") == "prometheus"


def dashboard_queries(dashboards_dir: Path, range_s: float, scrape_s: float) -> list[Query]:
    """Every Prometheus target of every dashboard, for a dashboard range of `range_s`."""
    out = []
    for dashboard in load_dashboards(dashboards_dir):
        values = _variables(dashboard)
        for panel in _panels(dashboard):
            for target in panel.get("targets", []):
                if not _is_prometheus(panel, target) or not target.get("expr"):
                    continue
                step = grafana_step(range_s, scrape_s, panel.get("maxDataPoints"))
                expr = fill_variables(target["expr"], range_s, step, scrape_s, values)
                instant = target.get("instant") and not target.get("range")
                title = panel.get("title", "") + (f" [{target['legendFormat']}]"
                                                  if target.get("legendFormat") else "")
                out.append(Query(dashboard["uid"], "panel", title, expr,
                                 0.0 if instant else range_s, step))
    return out


# --- how far back a query reads ---------------------------------------------------
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+)(ms|[smhdwy])")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_RANGE = re.compile(r"\s*\[\s*([0-9a-z]+)\s*(:\s*[0-9a-z]*)?\s*\]")
_OFFSET = re.compile(r"\s*offset\s+(-?[0-9a-z]+)")


def seconds(text: str) -> float:
    return sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(text))


def _blank_strings(expr: str) -> str:
    return _STRING.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', expr)


def _skip_braces(expr: str, i: int) -> int:
    while i < len(expr) and expr[i].isspace():
        i += 1
    if i < len(expr) and expr[i] == "{":
        return expr.index("}", i) + 1
    return i


def _subqueries(expr: str) -> list[tuple[int, int, float]]:
    """(open paren, close paren, range) of every `( ... )[range:step]`."""
    out = []
    for match in re.finditer(r"\)\s*\[\s*([0-9a-z]+)\s*:", expr):
        close, depth = match.start(), 0
        for i in range(close, -1, -1):
            depth += {")": 1, "(": -1}.get(expr[i], 0)
            if depth == 0:
                out.append((i, close, seconds(match.group(1))))
                break
    return out


def lookbacks(expr: str, names: set[str]) -> list[tuple[str, float]]:
    """(series name, seconds back from the evaluation time it reads) of every selector
    of `expr` that names one of `names`: its range, plus the ranges of the subqueries
    around it, plus any offset; 0 for an instant selector."""
    text = _blank_strings(expr)
    # label matchers' names and values are not selectors
    masked = re.sub(r"\{[^}]*\}", lambda m: "{" + " " * (len(m.group()) - 2) + "}", text)
    subqueries = _subqueries(masked)
    out = []
    for match in _IDENT.finditer(masked):
        if match.group() not in names:
            continue
        end = _skip_braces(masked, match.end())
        back = 0.0
        rng = _RANGE.match(masked, end)
        if rng:
            back += seconds(rng.group(1))
            end = rng.end()
        offset = _OFFSET.match(masked, end)
        if offset:
            back += seconds(offset.group(1))
        back += sum(r for start, close, r in subqueries if start < match.start() < close)
        out.append((match.group(), back))
    return out
