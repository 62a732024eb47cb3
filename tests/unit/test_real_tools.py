"""The compiled dashboards and every query, checked with the real tools' definitions
(tests/harness/real_tools.py): Grafana 12.1's types (@grafana/schema via tsc), promtool and
Prometheus 3.5's PromQL grammar, Grafana's LogQL grammar. Each check is also fed a
deliberately broken input and must name it."""

from __future__ import annotations

import copy
import json
import re

import pytest

from dashboards import build
from tests.harness import real_tools as R
from tests.harness.panels import all_queries, iter_panels, load_dashboards

DASHBOARDS = load_dashboards()
QUERIES = all_queries(DASHBOARDS)


def _where(q) -> str:
    return f"{q.dashboard}: {q.panel} [{q.ref}]"


PROMQL = [(_where(q), R.filled(q.expr)) for q in QUERIES if q.kind == "prometheus"]
LOGQL = [(_where(q), R.filled(q.expr)) for q in QUERIES if q.kind == "loki"]
RULES = R.rule_expressions()


# --- the tools are the pinned ones ------------------------------------------------------
def test_the_npm_packages_are_pinned_and_installed_from_the_lock():
    package = json.loads((R.TOOLS / "package.json").read_text())
    lock = json.loads((R.TOOLS / "package-lock.json").read_text())["packages"]
    for name, version in package["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name}@{version} is not exact"
        assert lock[f"node_modules/{name}"]["version"] == version, name
        R._node()  # node on PATH and `npm ci` done, or a clear failure
        installed = json.loads((R.NODE_MODULES / name / "package.json").read_text())
        assert installed["version"] == version, f"{name}: run `make setup` (npm ci)"
    assert package["dependencies"]["@grafana/schema"].startswith("12.1."), \
        "the schema of the Grafana that compose runs (grafana/grafana:12.1.1)"


# --- dashboards against Grafana 12.1's types ---------------------------------------------
def test_dashboards_type_check_against_grafana_12_1_schema():
    problems = R.check_dashboards(DASHBOARDS)
    assert not problems, "\n".join(problems)


def test_a_misspelled_or_wrong_option_fails_the_type_check():
    broken = copy.deepcopy(DASHBOARDS)
    table = next(p for p in iter_panels(broken["ai-assist-health"]) if p["type"] == "table")
    table["fieldConfig"]["defaults"]["custom"]["displayMod"] = "auto"
    series = next(p for p in iter_panels(broken["ai-assist-realtime"])
                  if p["type"] == "timeseries")
    series["options"]["legend"]["displayMode"] = "tabel"
    stat = next(p for p in iter_panels(broken["ai-assist-cost"]) if p["type"] == "stat")
    stat["span"] = 4  # a grafanalib leftover
    problems = "\n".join(R.check_dashboards(broken))
    assert f"panel {table['title']!r} (table) fieldConfig.defaults.custom" in problems
    assert "'\"displayMod\"' does not exist" in problems
    assert f"panel {series['title']!r} (timeseries) options" in problems
    assert "'\"tabel\"' is not assignable" in problems
    assert f"panel {stat['title']!r} (stat): error" in problems and '"span"' in problems
    assert len(problems.splitlines()) == 3, problems


def test_dashboards_are_at_grafana_12_1s_schema_version():
    for uid, dashboard in DASHBOARDS.items():
        assert dashboard["schemaVersion"] == R.schema_version(), uid


def test_the_compiled_json_has_no_grafanalib_leftovers():
    for uid, dashboard in DASHBOARDS.items():
        assert not set(dashboard) & build.DASHBOARD_LEFTOVERS, uid
        assert not set(dashboard["timepicker"]) & build.TIMEPICKER_LEFTOVERS, uid
        for panel in iter_panels(dashboard):
            if panel["type"] == "row":
                assert set(panel) <= build.ROW_KEYS, (uid, panel["title"])
            else:
                assert not set(panel) & build.PANEL_LEFTOVERS, (uid, panel["title"])
            custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom", {})
            assert "displayMode" not in custom, "deprecated: custom.cellOptions"
        text = json.dumps(dashboard)
        # The only nulls: a threshold's base step, which the schema writes as null.
        assert text.count("null") == text.count('"value": null'), uid


def test_build_drops_leftovers_and_nulls_but_keeps_the_base_threshold():
    raw = {"__inputs": [], "rows": [], "gnetId": None, "timepicker": {"time_options": ["5m"],
                                                                       "hidden": False},
           "panels": [{"type": "row", "title": "r", "span": None, "targets": [],
                       "collapsed": True, "id": 1, "panels": [
                           {"type": "stat", "span": 4, "height": None, "title": "s",
                            "interval": None, "fieldConfig": {"defaults": {
                                "decimals": None,
                                "thresholds": {"steps": [{"color": "green", "value": None}]},
                                "mappings": [{"type": "range", "options": {
                                    "from": None, "to": 1, "result": {"text": "x"}}}]}}}]}]}
    assert build.clean(raw) == {
        "timepicker": {"hidden": False},
        "panels": [{"type": "row", "title": "r", "collapsed": True, "id": 1, "panels": [
            {"type": "stat", "title": "s", "fieldConfig": {"defaults": {
                "thresholds": {"steps": [{"color": "green", "value": None}]},
                "mappings": [{"type": "range", "options": {
                    "from": None, "to": 1, "result": {"text": "x"}}}]}}}]}]}


# --- PromQL: promtool and Prometheus 3.5's grammar -----------------------------------------
def test_every_panel_and_rule_query_passes_promtool():
    assert len(PROMQL) > 50 and len(RULES) > 50
    problems = R.check_promql(PROMQL + RULES)
    assert not problems, "\n".join(problems)


def test_every_panel_and_rule_query_parses_with_prometheus_3_5s_grammar():
    problems = R.check_grammar("promql", PROMQL + RULES)
    assert not problems, "\n".join(problems)


def test_broken_promql_fails_both_checks():
    broken = ("ai-assist-realtime: broken [A]", "sum(rate(esg_mapping_requests_total[5m])")
    for problems in (R.check_promql([*PROMQL[:5], broken, *RULES[:5]]),
                     R.check_grammar("promql", [*PROMQL[:5], broken, *RULES[:5]])):
        assert problems and problems[0].startswith(broken[0]), problems


# --- LogQL: Grafana's grammar -----------------------------------------------------------
def test_every_loki_query_parses_with_grafanas_logql_grammar():
    assert LOGQL, "the health dashboard shows the service's logs"
    problems = R.check_logql(LOGQL)
    assert not problems, "\n".join(problems)


def test_broken_logql_fails_the_check():
    broken = ("ai-assist-health: broken [A]",
              'sum by (level) (count_over_time({service="ai-assist"} | json [1m])')
    problems = R.check_logql([*LOGQL, broken])
    assert len(problems) == 1 and problems[0].startswith(broken[0]), problems


@pytest.mark.parametrize("where, expr", LOGQL, ids=[w for w, _ in LOGQL])
def test_no_loki_query_fails_on_a_line_that_is_not_json(where, expr):
    """Loki fails a metric query when `| json` leaves an __error__ label on any line in the
    range (a library's stray print): drop such lines right after parsing."""
    stages = [s.strip() for s in re.split(r"\|(?![=~])", expr.split("[")[0])[1:]]
    if "json" in stages:
        after = stages.index("json") + 1
        assert stages[after:after + 1] == ['__error__=""'], expr
