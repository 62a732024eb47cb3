"""The compiled rules, promtool unit tests, Alertmanager config and runbook, checked
without a running stack: fresh, accepted by promtool and amtool, every alert complete,
every threshold alerted at both levels, every runbook link landing on a heading."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from ai_assist.telemetry import metrics as M
from alerting import build
from observability import uids as links
from alerting import rules as alert_rules
from alerting.alertmanager import INHIBIT_EQUAL
from alerting.threshold_alerts import alert_name
from observability.durations import Scale, duration, seconds
from observability.thresholds import THRESHOLDS
from tests.harness.panels import all_queries
from tests.harness.processes import python_env
from tests.harness.rules import (
    RULES_DIR,
    TESTS_DIR,
    alerts,
    load_rules,
    metric_name,
    recordings,
    rule_files,
    selectors,
)

ROOT = Path(__file__).resolve().parents[2]
COMMITTED_ALERTMANAGER = build.ALERTMANAGER_YML
RUNBOOK = build.RUNBOOK_MD
DASHBOARD_PATHS = {f"/d/{uid}?var-namespace={{{{ $labels.namespace }}}}"
                   for uid in links.DASHBOARDS}


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} missing: `make system-deps` installs it"
    return path


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=env)


# --- generated and accepted ----------------------------------------------------------
def test_generated_files_are_fresh():
    assert build.stale() == [], "run `python -m alerting.build` (or `make dashboards`)"


def test_check_mode_fails_on_a_stale_missing_or_orphaned_file(tmp_path):
    check = ["--check", "--root", str(tmp_path)]
    assert build.main(check) == 1, "nothing written yet"
    assert build.main(["--root", str(tmp_path)]) == 0
    assert build.main(check) == 0
    rule_file = tmp_path / "prometheus" / "rules" / "sli.yml"
    rule_file.write_text(rule_file.read_text() + "# edited by hand\n")
    assert build.main(check) == 1
    assert build.main(["--root", str(tmp_path)]) == 0
    (tmp_path / "prometheus" / "rules" / "renamed-long-ago.yml").write_text("groups: []\n")
    assert build.main(check) == 1


def test_promtool_accepts_every_rule_file():
    files = rule_files()
    assert {p.name for p in files} == set(alert_rules.rule_files())
    result = _run(_tool("promtool"), "check", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_promtool_unit_tests_pass():
    files = sorted(TESTS_DIR.glob("*.yml"))
    assert files
    result = _run(_tool("promtool"), "test", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_accepts_the_committed_alertmanager_config():
    result = _run(_tool("amtool"), "check-config", str(COMMITTED_ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr


# --- every alert complete ------------------------------------------------------------
@pytest.mark.parametrize("rule", alerts(), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}"
                         f"-{r['labels'].get('long_window', '')}")
def test_every_alert_has_severity_summary_description_runbook_and_dashboard(rule):
    assert rule["labels"]["severity"] in ("warning", "critical")
    notes = rule["annotations"]
    assert set(notes) == {"summary", "description", "runbook_url", "dashboard"}
    assert notes["summary"].strip()
    assert re.search(r"\{\{ \$value \| humanize(Percentage|Duration)? \}\}",
                     notes["description"]), "the description shows the current value"
    assert notes["runbook_url"] == f"docs/runbook.md#{rule['alert'].lower()}"
    assert notes["dashboard"] in DASHBOARD_PATHS


def test_alert_names_are_unique_per_severity_and_condition():
    seen = defaultdict(list)
    for rule in alerts():
        seen[(rule["alert"], rule["labels"]["severity"],
              rule["labels"].get("long_window"))].append(rule["expr"])
    assert all(len(exprs) == 1 for exprs in seen.values())


@pytest.mark.parametrize("row", THRESHOLDS, ids=lambda t: t.key)
def test_every_threshold_has_a_warning_and_a_critical_alert(row):
    rules = [r for r in alerts() if r["alert"] == alert_name(row)]
    by_severity = {r["labels"]["severity"]: r for r in rules}
    assert set(by_severity) == {"warning", "critical"} and len(rules) == 2
    op = ">" if row.higher_is_worse else "<"
    for severity, limit in (("warning", row.warning), ("critical", row.critical)):
        assert by_severity[severity]["expr"].split("\n")[0] == f"{row.record} {op} {limit:g}"
    if row.min_request_rate:
        assert f">= {row.min_request_rate:g}" in by_severity["warning"]["expr"]
    assert row.record in {r["record"] for r in recordings()}


def test_an_alert_with_both_severities_can_inhibit_its_warning():
    """Critical and warning of one name carry the same inhibit labels (or both lack them)."""
    names = defaultdict(dict)
    for rule in alerts():
        names[rule["alert"]].setdefault(rule["labels"]["severity"], []).append(rule)
    config = yaml.safe_load(COMMITTED_ALERTMANAGER.read_text())
    (inhibit,) = config["inhibit_rules"]
    assert inhibit["source_matchers"] == ['severity="critical"']
    assert inhibit["target_matchers"] == ['severity="warning"']
    assert inhibit["equal"][0] == "alertname"
    assert sum(1 for sev in names.values() if {"warning", "critical"} <= set(sev)) >= 20
    for rule in alerts():
        assert not set(rule["labels"]) & (set(INHIBIT_EQUAL) - {"alertname"}), \
            "a rule label in `equal` would stop its own critical from inhibiting its warning"


def test_threshold_alerts_point_at_a_dashboard_that_shows_their_sli():
    from dashboards.lib.variables import INSTANCE, INSTANCE_AND_MODEL

    queries = all_queries()
    for row in THRESHOLDS:
        (rule, *_) = [r for r in alerts() if r["alert"] == alert_name(row)]
        uid = rule["annotations"]["dashboard"].removeprefix("/d/").split("?")[0]
        wanted = {row.expr("$__rate_interval", m) for m in (INSTANCE, INSTANCE_AND_MODEL)}
        shown = [q for q in queries if q.dashboard == uid
                 and (q.expr in wanted or any(f"({w}) or on() vector(0)" == q.expr
                                              for w in wanted))]
        assert shown, f"{row.key}: dashboard {uid} has no panel with the SLI"


def test_rules_name_only_catalogue_metrics_or_recorded_series():
    known = M.exposed_series_names() | {r["record"] for r in recordings()} | {"up"}
    unknown = {metric_name(s) for r in load_rules() for s in selectors(r["expr"])} - known
    assert unknown == set()


def test_histogram_selectors_match_the_bucket_labels_the_service_writes():
    """The latency SLO's le matcher must select prometheus_client's `le="30.0"`."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    metrics = M.Metrics(registry)
    metrics.request_duration.labels("success", "none").observe(1)
    exposed = set(re.findall(rf'{M.REQUEST_DURATION}_bucket\{{[^}}]*le="([^"]+)"',
                             generate_latest(registry).decode()))
    for rule in load_rules():
        for selector in selectors(rule["expr"]):
            le = re.search(r'le=~"([^"]+)"', selector)
            if le:
                pattern = le.group(1).replace("\\\\", "\\")
                assert [v for v in exposed if re.fullmatch(pattern, v)], selector


def test_selector_extraction_finds_what_it_should():
    expr = ('sum by (le)(rate(a_total{x="b c", le=~"30(\\\\.0)?"}[5m])) / on() '
            'avg_over_time(r:x:5m[1h] offset 10m) > 1e6 and c{d="e"} or vector(0)')
    assert selectors(expr) == ['a_total{x="b c", le=~"30(\\\\.0)?"}', "r:x:5m", 'c{d="e"}']


# --- the short-clock variant the end-to-end test runs ---------------------------------
_DURATION = re.compile(r"(?<=\[)\d+[smhd](?=[\]:])|(?<=offset )\d+[smhd]")


def _normalised(expr: str) -> str:
    return _DURATION.sub("D", expr)


def test_scaled_rules_differ_from_the_committed_only_in_durations():
    committed = alert_rules.all_alerts() + alert_rules.all_recordings()
    scaled = alert_rules.all_alerts(Scale(1 / 30)) + alert_rules.all_recordings(Scale(1 / 30))
    assert len(committed) == len(scaled)
    for a, b in zip(committed, scaled):
        assert _normalised(a.expr) == _normalised(b.expr), (a.expr, b.expr)
        if hasattr(a, "for_"):
            assert (a.name, a.severity, a.labels) == (b.name, b.severity, b.labels)
            expected = 0 if seconds(a.for_) == 0 else max(round(seconds(a.for_) / 30), 1)
            assert seconds(b.for_) == expected


def test_durations_round_trip():
    assert seconds("1h30m") == 5400 and duration(5400) == "90m"
    assert Scale(1 / 30)("5m") == "10s" and Scale(1 / 30)("1d") == "48m"
    assert Scale()("5m") == "5m"


# --- Alertmanager configs rendered from the environment ------------------------------
def _render(tmp_path: Path, env: dict[str, str], *flags: str) -> tuple[dict, Path]:
    out = tmp_path / "alertmanager.yml"
    result = _run(sys.executable, "-m", "alerting.render_alertmanager", "--out", str(out),
                  *flags, env=python_env(env))
    assert result.returncode == 0, result.stderr
    check = _run(_tool("amtool"), "check-config", str(out))
    assert check.returncode == 0, check.stdout + check.stderr
    return yaml.safe_load(out.read_text()), out


def _receivers(config: dict) -> dict[str, dict]:
    return {r["name"]: r for r in config["receivers"]}


def test_committed_config_routes_critical_to_slack_and_email_and_warning_to_slack():
    config = yaml.safe_load(COMMITTED_ALERTMANAGER.read_text())
    receivers = _receivers(config)
    assert set(receivers["critical"]) == {"name", "slack_configs", "email_configs"}
    assert set(receivers["warning"]) == {"name", "slack_configs"}
    routes = {tuple(r["matchers"]): r["receiver"] for r in config["route"]["routes"]}
    assert routes == {('severity="critical"',): "critical", ('severity="warning"',): "warning"}
    assert config["route"]["group_by"] == ["alertname", "severity"]


def test_committed_config_holds_no_secret():
    config = yaml.safe_load(COMMITTED_ALERTMANAGER.read_text())
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs", []):
            assert "api_url" not in slack and slack["api_url_file"].startswith("/etc/")
        for email in receiver.get("email_configs", []):
            assert "auth_password" not in email and email["auth_password_file"]
            assert email["to"].endswith("@example.com")
            assert email["smarthost"].split(":")[0].endswith("example.com")
    assert "hooks.slack.com" not in COMMITTED_ALERTMANAGER.read_text()


def test_rendering_with_no_variable_gives_the_committed_config(tmp_path):
    config, _ = _render(tmp_path, {})
    assert config == yaml.safe_load(COMMITTED_ALERTMANAGER.read_text())


def test_rendered_config_with_slack_url_and_smtp(tmp_path):
    secrets = tmp_path / "secrets"
    config, out = _render(tmp_path, {
        "AI_ASSIST_ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/x",
        "AI_ASSIST_SMTP_SMARTHOST": "mail.internal:25", "AI_ASSIST_SMTP_FROM": "am@corp.test",
        "AI_ASSIST_ALERT_EMAIL_TO": "sre@corp.test", "AI_ASSIST_SMTP_PASSWORD": "pw",
        "AI_ASSIST_SMTP_REQUIRE_TLS": "false", "AI_ASSIST_GRAFANA_URL": "https://g.corp.test",
        "AI_ASSIST_RUNBOOK_BASE_URL": "https://git.corp.test/ai-assist/blob/main/"},
        "--secrets-dir", str(secrets))
    critical = _receivers(config)["critical"]
    (slack,) = critical["slack_configs"]
    # The secrets go to files Alertmanager reads (tests/unit/test_file_modes.py: as uid 65534).
    assert "api_url" not in slack
    assert slack["api_url_file"] == "/etc/alertmanager/secrets/slack-webhook-url"
    assert (secrets / "slack-webhook-url").read_text() == "https://hooks.slack.com/services/T0/B0/x"
    assert (secrets / "smtp-password").read_text() == "pw"
    assert "hooks.slack.com" not in out.read_text()
    assert "pw" not in critical["email_configs"][0].values()
    assert "<https://git.corp.test/ai-assist/blob/main/{{ .Annotations.runbook_url }}|" \
           in slack["text"]
    assert "https://g.corp.test{{ .Annotations.dashboard }}" in slack["text"]
    (email,) = critical["email_configs"]
    assert (email["to"], email["smarthost"], email["auth_password_file"], email["require_tls"]) == \
        ("sre@corp.test", "mail.internal:25", "/etc/alertmanager/secrets/smtp-password", False)
    assert oct(out.stat().st_mode & 0o777) == "0o644", "Alertmanager's uid must read it"


def test_rendered_config_with_a_plain_webhook_and_no_email(tmp_path):
    config, out = _render(tmp_path, {"AI_ASSIST_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
                                     "AI_ASSIST_ALERT_EMAIL_ENABLED": "false"},
                          "--group-wait", "1s", "--group-interval", "1s")
    for receiver in _receivers(config).values():
        assert set(receiver) == {"name", "webhook_configs"}
        assert receiver["webhook_configs"] == [{"send_resolved": True,
                                                "url": "http://127.0.0.1:9/hook"}]
    assert config["route"]["group_wait"] == "1s"


def test_render_refuses_to_put_a_secret_into_the_committed_file():
    before = COMMITTED_ALERTMANAGER.read_text()
    result = _run(sys.executable, "-m", "alerting.render_alertmanager", "--out",
                  str(COMMITTED_ALERTMANAGER), env=python_env({"AI_ASSIST_SMTP_PASSWORD": "pw"}))
    assert result.returncode == 2 and "secret" in result.stderr
    assert COMMITTED_ALERTMANAGER.read_text() == before


# --- runbook and unit-test coverage --------------------------------------------------
def _github_anchor(heading: str) -> str:
    anchor = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return anchor.replace(" ", "-")


def test_every_runbook_link_lands_on_a_heading():
    text = RUNBOOK.read_text()
    anchors = {_github_anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
    for rule in alerts():
        assert rule["annotations"]["runbook_url"].split("#", 1)[1] in anchors, rule["alert"]
    for target in re.findall(r"\]\(#([^)]+)\)", text):
        assert target in anchors, f"runbook link #{target} has no heading"


def test_every_alert_has_a_runbook_entry_with_causes_and_actions():
    text = RUNBOOK.read_text()
    for name in {r["alert"] for r in alerts()}:
        entry = text.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        for part in ("**What it means.**", "**Likely causes.**", "**What to do.**"):
            assert part in entry, f"{name}: {part}"


def _unit_tests() -> list[dict]:
    return [t for path in sorted(TESTS_DIR.glob("*.yml"))
            for t in yaml.safe_load(path.read_text())["tests"]]


def test_every_alert_fires_at_each_severity_and_stays_silent_in_unit_tests():
    fired, silent = defaultdict(set), set()
    for test in _unit_tests():
        for case in test.get("alert_rule_test", []):
            if not case["exp_alerts"]:
                silent.add(case["alertname"])
            for alert in case["exp_alerts"]:
                fired[case["alertname"]].add(alert["exp_labels"]["severity"])
    for rule in alerts():
        assert rule["labels"]["severity"] in fired[rule["alert"]], rule["alert"]
        assert rule["alert"] in silent, f"{rule['alert']}: no case where it stays silent"


def test_unit_tests_cover_every_rule_file_but_the_sli_one_from_recorded_input():
    covered = set()
    for path in sorted(TESTS_DIR.glob("*.yml")):
        covered |= {Path(p).name for p in yaml.safe_load(path.read_text())["rule_files"]}
    assert covered == {p.name for p in RULES_DIR.glob("*.yml")}


_RANGE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\[(\d+[smhdwy])(:[^\]]*)?\]")


def long_raw_ranges(expr: str) -> list[str]:
    """Range selectors of a day or more over raw series (not ai_assist:* recordings)."""
    return [m.group(0) for m in _RANGE.finditer(expr)
            if not m.group(1).startswith("ai_assist:") and seconds(m.group(3)) >= 86400]


def test_no_rule_reads_a_raw_series_over_a_day_or_more():
    """Long windows come from recorded short ones: a day of a raw series per evaluation
    grows with replicas x label sets past Prometheus's --query.max-samples (issue 21)."""
    assert long_raw_ranges('rate(x_total{a="b"}[30d]) + sum_over_time(ai_assist:y:rate5m[30d])'
                           " + rate(z[5m])") == ['x_total{a="b"}[30d]']
    offenders = [f"{r.get('record') or r.get('alert')}: {found}" for r in load_rules()
                 if (found := long_raw_ranges(r["expr"]))]
    assert not offenders, "\n".join(offenders)
