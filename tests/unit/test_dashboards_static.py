"""The compiled dashboards, checked without a Prometheus: fresh, linted, every metric
known, every threshold row shown with its colours, every query parsed by promtool."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ai_assist.telemetry import metrics as M
from dashboards import build
from dashboards.lib import logql
from dashboards.lib.panels import threshold_steps
from dashboards.lib.variables import DEPLOYMENT, INSTANCE, INSTANCE_AND_MODEL
from observability import bands
from observability.promql import FIXED_WINDOWS, zero_when_absent
from observability.selectors import SELECTORS
from observability.slo import OBJECTIVE
from observability.thresholds import THRESHOLDS
from observability.uids import LOKI_UID, PROMETHEUS_UID
from tests.harness.panels import (
    ROOT,
    all_queries,
    fill_variables,
    iter_panels,
    load_dashboards,
    loki_label_filters,
)

UIDS = {"ai-assist-realtime", "ai-assist-quality", "ai-assist-cost", "ai-assist-health"}
DASHBOARDS = load_dashboards()
QUERIES = all_queries(DASHBOARDS)
PROM_QUERIES = [q for q in QUERIES if q.kind == "prometheus"]
LOKI_QUERIES = [q for q in QUERIES if q.kind == "loki"]
DATASOURCE_UID = {"prometheus": "${datasource}", "loki": "${loki}"}
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "offset", "inf", "nan"}


def _masked(expr: str) -> str:
    """`expr` with the inside of every string literal blanked, positions kept."""
    return re.sub(r'"(?:[^"\\]|\\.)*"', lambda s: '"' + " " * (len(s.group()) - 2) + '"', expr)


def _call_spans(expr: str, functions=("rate", "increase", "irate")) -> list[tuple[int, int]]:
    masked, spans = _masked(expr), []
    for match in re.finditer(rf"\b({'|'.join(functions)})\s*\(", masked):
        depth = 0
        for end in range(match.end() - 1, len(masked)):
            depth += {"(": 1, ")": -1}.get(masked[end], 0)
            if depth == 0:
                spans.append((match.start(), end + 1))
                break
    return spans


def rate_windows(expr: str) -> list[str]:
    masked = _masked(expr)
    return [w for start, end in _call_spans(expr)
            for w in re.findall(r"\[([^\]:]+)\]", masked[start:end])]


def counters_outside_rate(expr: str) -> list[str]:
    spans, masked = _call_spans(expr), _masked(expr)
    return [m.group() for m in re.finditer(r"\b[A-Za-z_:][\w:]*_total\b", masked)
            if not any(start < m.start() < end for start, end in spans)]


def selectors_without(expr: str, matcher: str) -> list[str]:
    masked, out = _masked(expr), []
    for name in metric_names(expr):
        for m in re.finditer(rf"(?<![\w:]){re.escape(name)}(\{{[^}}]*\}})?(?![\w:(])", masked):
            if matcher not in expr[m.start():m.end()]:
                out.append(expr[m.start():m.end()])
    return out


def metric_names(expr: str) -> set[str]:
    s = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    s = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", s)
    s = re.sub(r"\boffset\s+-?(\d+(ms|[smhdwy]))+", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"(?<![\w:])\d+(\.\d+)?([eE][+-]?\d+)?", " ", s)
    return {m.group() for m in re.finditer(r"[A-Za-z_:][\w:]*(?!\s*\(|[\w:])", s)
            if m.group() not in KEYWORDS}


def recorded_names() -> set[str]:
    names = set()
    for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            names |= {rule["record"] for rule in group.get("rules", []) if "record" in rule}
    return names


def _where(q) -> str:
    return f"{q.dashboard} / {q.panel} / {q.ref}"


# --- freshness and shape -----------------------------------------------------------
def test_committed_json_matches_a_fresh_build():
    assert build.stale() == [], "run `python -m dashboards.build`"


def test_the_four_dashboards_and_their_variables():
    assert set(DASHBOARDS) == UIDS
    for uid, dashboard in DASHBOARDS.items():
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        assert variables["datasource"]["current"]["value"] == PROMETHEUS_UID
        assert variables["loki"]["query"] == "loki"
        assert variables["loki"]["current"]["value"] == LOKI_UID
        names = [v["name"] for v in dashboard["templating"]["list"]]
        # each selection narrows the next one's choices
        assert names[2:5] == ["cluster", "namespace", "instance"], names
        job = SELECTORS.job_matcher
        assert variables["cluster"]["query"]["query"] == \
            f"label_values({M.REQUESTS_TOTAL}{{{job}}}, {SELECTORS.cluster_label})"
        assert variables["namespace"]["query"]["query"] == (
            f'label_values({M.REQUESTS_TOTAL}{{{job}, {SELECTORS.cluster_label}=~"$cluster"}}'
            f", {SELECTORS.namespace_label})")
        assert variables["instance"]["query"]["query"] == \
            f"label_values({M.REQUESTS_TOTAL}{{{job}, {DEPLOYMENT}}}, instance)"
        # hidden (2) in a single-cluster datasource, where it has no value to pick
        assert variables["cluster"]["hide"] == (0 if SELECTORS.multi_cluster else 2)
        for name in ("cluster", "namespace", "instance"):
            variable = variables[name]
            # All is `.*`, which also matches a series without the label (compose)
            assert (variable["multi"], variable["includeAll"], variable["allValue"]) == \
                (True, True, ".*"), name
            assert variable["datasource"]["uid"] == "${datasource}"
        assert ("model" in variables) == (uid == "ai-assist-cost"), uid


def test_every_panel_lints():
    problems = []
    for uid, dashboard in DASHBOARDS.items():
        for panel in iter_panels(dashboard):
            where = f"{uid} / {panel.get('title') or panel.get('id')}"
            if not panel.get("title"):
                problems.append(f"{where}: no title")
            if panel["type"] == "row":
                continue
            if not (panel.get("description") or "").strip():
                problems.append(f"{where}: no description")
            if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
                problems.append(f"{where}: no unit")
            targets = panel.get("targets", [])
            if not targets:
                problems.append(f"{where}: no target")
            source = panel.get("datasource") or {}
            if DATASOURCE_UID.get(source.get("type")) != source.get("uid"):
                problems.append(f"{where}: datasource {source} is not the templated one")
            for target in targets:
                if target.get("datasource") != source:
                    problems.append(f"{where} / {target.get('refId')}: target datasource "
                                    f"{target.get('datasource')} differs from the panel's")
                if not target.get("expr", "").strip():
                    problems.append(f"{where} / {target.get('refId')}: empty expr")
    assert not problems, "\n".join(problems)


def test_panels_do_not_overlap():
    for uid, dashboard in DASHBOARDS.items():
        cells = {}
        for panel in iter_panels(dashboard):
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, (uid, panel["title"])
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    assert (x, y) not in cells, (uid, panel["title"], cells.get((x, y)))
                    cells[(x, y)] = panel["title"]


# --- PromQL lint -------------------------------------------------------------------
def test_rates_use_rate_interval_or_a_documented_fixed_window():
    problems = []
    for q in PROM_QUERIES:
        for window in rate_windows(q.expr):
            if window == "$__rate_interval":
                continue
            if window not in FIXED_WINDOWS:
                problems.append(f"{_where(q)}: rate window [{window}]")
            elif f"fixed {window} window" not in q.panel_json["description"].lower():
                problems.append(f"{_where(q)}: fixed [{window}] window not in the description")
    assert not problems, "\n".join(problems)


def test_counters_only_inside_rate_or_increase():
    problems = [f"{_where(q)}: {name} outside rate/increase"
                for q in PROM_QUERIES for name in counters_outside_rate(q.expr)]
    assert not problems, "\n".join(problems)


# Recorded per deployment by design: the SLOs, the autoscaler's count, the anomaly bands
PER_DEPLOYMENT = ("ai_assist:slo_", "ai_assist:autoscaler_",
                  *{bands.record(r.record, "").rsplit(":", 1)[0] for r in THRESHOLDS})
CONSTANT = (OBJECTIVE,)  # the SLOs' objectives, the same in every deployment


def test_every_selector_carries_the_deployment_and_instance_matchers():
    """Raw series: the job, the picked cluster and namespace, the picked instances.
    Recorded series (no job): the picked deployment, and the instances where the rule
    keeps them apart."""
    problems = []
    for q in PROM_QUERIES:
        for selector in selectors_without(q.expr, DEPLOYMENT):
            if not selector.startswith(CONSTANT):
                problems.append(f"{_where(q)}: {selector} (no deployment)")
        for selector in selectors_without(q.expr, INSTANCE):
            if selector.startswith(("ai_assist:", *CONSTANT)):
                if selector.startswith(PER_DEPLOYMENT + CONSTANT):
                    continue
                if 'instance=~"$instance"' in selector:
                    continue
            problems.append(f"{_where(q)}: {selector} (no job or instance)")
    assert not problems, "\n".join(problems)


def test_every_metric_is_exposed_by_the_service_or_recorded():
    known = M.exposed_series_names() | recorded_names() | {"up"}
    problems = [f"{_where(q)}: {name}" for q in PROM_QUERIES
                for name in sorted(metric_names(q.expr) - known)]
    assert not problems, "unknown metrics:\n" + "\n".join(problems)


def test_the_lint_finds_what_it_looks_for():
    bad = ('sum(rate(a_total{x="[1h]"}[5m])) / on(le) group_left() b{y="$instance"} > 0 '
           'or on() vector(0) * 1e6 + c_total + histogram_quantile(0.9, d_bucket)')
    assert metric_names(bad) == {"a_total", "b", "c_total", "d_bucket"}
    assert metric_names("avg_over_time((x)[1h:1m] offset 1h30m)") == {"x"}
    assert rate_windows(bad) == ["5m"]
    assert counters_outside_rate(bad) == ["c_total"]
    assert sorted(selectors_without(bad, INSTANCE)) == \
        ['a_total{x="[1h]"}', 'b{y="$instance"}', "c_total", "d_bucket"]
    assert loki_label_filters('{service="x"} | json | level=~"a|b" | duration_s > 3') == \
        [("level", "=~", '"a|b"'), ("duration_s", ">", "3")]
    assert not _balanced('{service="x"} | json | level="}"]')


@pytest.mark.parametrize("row", THRESHOLDS, ids=lambda t: t.key)
def test_every_threshold_row_is_a_panel_with_its_colours(row):
    wanted = {row.expr("$__rate_interval", m) for m in (INSTANCE, INSTANCE_AND_MODEL)}
    wanted |= {zero_when_absent(w) for w in wanted}  # as threshold_stat shows it
    hosts = [q.panel_json for q in PROM_QUERIES if q.expr in wanted]
    assert hosts, f"no panel shows {row.key}"
    steps = [p for p in hosts if
             p["fieldConfig"]["defaults"]["thresholds"]["steps"] == threshold_steps(row)
             and p["fieldConfig"]["defaults"]["unit"] == row.unit
             and row.description in p["description"]]
    assert steps, f"{row.key}: no panel with its unit, description and colour steps"
    assert {s["value"] for s in threshold_steps(row)} == {None, row.goal, row.warning,
                                                          row.critical}


def test_every_prometheus_query_parses(tmp_path: Path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool not on PATH: `make system-deps` installs it"
    rules = [{"record": f"dashboard:query_{i}:check",
              "expr": fill_variables(q.expr, range_s=3600, interval_s=15, scrape_interval_s=15)}
             for i, q in enumerate(PROM_QUERIES)]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=60)
    names = "\n".join(f"query_{i}: {_where(q)}" for i, q in enumerate(PROM_QUERIES))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{names}"
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_variable_filling_matches_grafana():
    expr = 'rate(x{instance=~"$instance"}[$__rate_interval]) [$__interval] $__range_s $__range'
    assert fill_variables(expr, 3600, 15, 15) == 'rate(x{instance=~".*"}[60s]) [15s] 3600 3600s'
    assert fill_variables("[$__rate_interval]", 3600, 60, 15) == "[75s]"
    assert fill_variables("[${__rate_interval}]", 60, 0.5, 1) == "[4s]"
    with pytest.raises(KeyError):
        fill_variables("$nosuchvariable", 60, 1, 1)


# --- LogQL lint (Loki itself is checked in tests/stack/test_dashboards_proof.py) ---
def _balanced(expr: str) -> bool:
    stack, pairs = [], {")": "(", "]": "[", "}": "{"}
    for ch in _masked(expr):
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return False
    return not stack


def test_loki_queries_are_well_formed():
    assert LOKI_QUERIES, "the health dashboard shows the service's logs"
    problems = []
    for q in LOKI_QUERIES:
        if not _balanced(q.expr):
            problems.append(f"{_where(q)}: unbalanced brackets")
        selectors = re.findall(r"\{([^}]*)\}", _masked(q.expr))
        if not selectors:
            problems.append(f"{_where(q)}: no stream selector")
        for selector in re.findall(r"\{([^}]*)\}", q.expr):
            for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector):
                if label not in logql.STREAM_LABELS:
                    problems.append(f"{_where(q)}: stream label {label} is not set by Alloy")
        stages = re.findall(r"\|\s*([A-Za-z_]\w*)\s*(?=\||\)|\[|$)", q.expr)
        if any(stage != "json" for stage in stages):
            problems.append(f"{_where(q)}: parser stages {stages}")
        filters = loki_label_filters(q.expr)
        if filters and "json" not in stages:
            problems.append(f"{_where(q)}: filters fields without `| json`")
        for field, _, _ in filters:
            if field not in logql.LOG_FIELDS and field != "__error__":  # set by | json
                problems.append(f"{_where(q)}: field {field} is not in the service's log lines")
    assert not problems, "\n".join(problems)


# --- provisioning ------------------------------------------------------------------
def test_dashboard_provider_points_at_the_compiled_json():
    provider = yaml.safe_load(
        (ROOT / "dashboards/provisioning/dashboards/ai-assist.yml").read_text())
    (only,) = provider["providers"]
    assert (only["type"], only["folder"]) == ("file", "AI Assist")
    assert only["options"]["path"] == "/var/lib/grafana/dashboards/ai-assist"


def test_provisioned_datasources_have_the_uids_the_dashboards_use():
    path = ROOT / "dashboards/provisioning/datasources/datasources.yml"
    if not path.exists():
        pytest.skip("datasource provisioning not written yet")
    uids = {d["type"]: d["uid"] for d in yaml.safe_load(path.read_text())["datasources"]}
    assert uids["prometheus"] == PROMETHEUS_UID
    assert uids["loki"] == LOKI_UID


def test_quantiles_read_recorded_bucket_rates_and_say_their_window():
    """No panel computes a quantile over raw buckets (at 100 replicas a day of them took
    seconds: docs/operations/at-scale.md); each reads the recorded bucket rates and says
    that its window is the recording's, not the time picker's."""
    from observability import histograms as H

    recorded = {h.record("bucket") for h in H.HISTOGRAMS}
    quantiles = [q for q in PROM_QUERIES if "histogram_quantile" in q.expr]
    assert quantiles
    problems = []
    for q in quantiles:
        if _call_spans(q.expr, ("rate", "increase", "irate")) and "_bucket[" in q.expr:
            problems.append(f"{_where(q)}: a quantile over raw buckets")
        if not any(name in q.expr for name in recorded):
            problems.append(f"{_where(q)}: reads no recorded bucket rates")
        elif f"fixed {H.WINDOW} window" not in q.panel_json["description"].lower():
            problems.append(f"{_where(q)}: its fixed {H.WINDOW} window not in the description")
        if not 0 < (q.panel_json.get("maxDataPoints") or math.inf) <= H.POINTS:
            problems.append(f"{_where(q)}: asks for more than a point a recorded window "
                            "over a day")
    assert not problems, "\n".join(problems)


def test_exemplar_targets_keep_a_raw_bucket_selector():
    """Grafana asks /api/v1/query_exemplars with the target's expression, and recorded
    series carry no exemplars: a target that shows exemplars (trace ids) must select the
    raw buckets somewhere, without letting them into its values (`@ 0`)."""
    buckets = {f"{name}_bucket" for name in (M.REQUEST_DURATION, M.STAGE_DURATION)}
    targets = [q for q in PROM_QUERIES if q.target_json.get("exemplar")]
    assert targets
    problems = []
    for q in targets:
        raw = [s for s in selectors_without(q.expr, "@@") if s.split("{")[0] in buckets]
        if not raw:
            problems.append(f"{_where(q)}: shows exemplars but selects no raw buckets")
        problems += [f"{_where(q)}: {s} feeds the values (not at @ 0)"
                     for s in raw if f"{s} @ 0)" not in q.expr]
    assert not problems, "\n".join(problems)
