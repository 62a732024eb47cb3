"""End to end: Gemini fails, and one alert of each family fires from the real service's
metrics in a real Prometheus: the error-rate threshold, the availability SLO's burn-rate
page, the error rate's anomaly band and the circuit-breaker alert. A real Alertmanager
(configured by `python -m alerting.render_alertmanager`) sends them to a webhook, inhibits
the warning under the critical, and sends the resolved notifications once Gemini is
healthy again.

The rules are the generated ones with every window and `for:` scaled by 1/30
(observability.durations.Scale, the same code path as the committed files), so a 5-minute
condition holds after 10 s.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


from observability import bands, slo
from observability import uids as links
from alerting import anomaly
from alerting import rules as alert_rules
from alerting.threshold_alerts import alert_name
from observability.durations import Scale
from observability.sli import REQUEST_RATE
from observability.thresholds import BY_KEY
from tests.harness.processes import ROOT, python_env, start_emulator, start_service, wait_until
from tests.harness.prom import WebhookReceiver, start_alertmanager, start_prometheus
from tests.harness.traffic import Background

SCALE = Scale(1 / 30)
ERROR_RATE = alert_name(BY_KEY["error_rate"])
BUDGET_BURN = next(s.alert_name for s in slo.SLOS if s.key == "availability")
ANOMALY = next(b.alert_name for b in anomaly.BANDS if b.key == "error_rate")
OPERATIONAL = "AIAssistGeminiCircuitOpen"  # the breaker opens under Gemini's failures
# One alert of each family: (name, severity) of threshold, SLO burn, anomaly band, operational.
FAMILIES = ((ERROR_RATE, "critical"), (BUDGET_BURN, "critical"), (ANOMALY, "warning"),
            (OPERATIONAL, "warning"))
DEADLINE_S = 90


def render_alertmanager_config(path: Path, webhook_url: str) -> None:
    env = python_env({"AI_ASSIST_ALERT_WEBHOOK_URL": webhook_url,
                       "AI_ASSIST_ALERT_EMAIL_ENABLED": "false"})
    subprocess.run([sys.executable, "-m", "alerting.render_alertmanager", "--out", str(path),
                    "--group-wait", "1s", "--group-interval", "1s", "--repeat-interval", "1h",
                    "--critical-repeat-interval", "1h"],
                   check=True, cwd=ROOT, env=env, timeout=60)


def write_scaled_rules(directory: Path) -> list[Path]:
    directory.mkdir()
    paths = []
    for name, text in alert_rules.rule_files(SCALE).items():
        (directory / name).write_text(text)
        paths.append(directory / name)
    return paths


def notified(receiver: WebhookReceiver, alertname: str, status: str,
             severity: str = "critical") -> bool:
    return any(alert["status"] == status and alert["labels"].get("alertname") == alertname
               and alert["labels"].get("severity") == severity
               for _, alert in receiver.notifications())


def test_gemini_failures_page_through_alertmanager_and_resolve(tmp_path):
    emulator = start_emulator(tmp_path)
    stack = []
    try:
        service = start_service(tmp_path, {
            "AI_ASSIST_GEMINI_BASE_URL": emulator.url, "AI_ASSIST_FALLBACK_ENABLED": "false",
            "AI_ASSIST_LLM_TIMEOUT_S": "1", "AI_ASSIST_LLM_BACKOFF_S": "0.01",
            "AI_ASSIST_RATE_LIMIT_PER_MINUTE": "0"})
        stack.append(service)
        with WebhookReceiver() as receiver:
            config = tmp_path / "alertmanager.yml"
            render_alertmanager_config(config, receiver.url)
            alertmanager = start_alertmanager(tmp_path, config)
            stack.append(alertmanager)
            prom = start_prometheus(tmp_path, [service.target],
                                    write_scaled_rules(tmp_path / "rules"),
                                    alertmanager_url=alertmanager.url)
            stack.append(prom)
            with Background(service.url, client_id="e2e"):
                wait_until(lambda: any(v > 0 for _, v in prom.query(REQUEST_RATE)),
                           DEADLINE_S, "healthy traffic recorded")
                # the anomaly band needs history that ended GAP ago to stand on
                history = (f"count_over_time({BY_KEY['error_rate'].record}"
                           f"[{SCALE(bands.HISTORY)}] offset {SCALE(bands.GAP)})")
                wait_until(lambda: prom.query(history), DEADLINE_S, "the band's history")
                assert ERROR_RATE not in {a["labels"]["alertname"] for a in prom.alerts()}

                emulator.configure(fault_rates={"503": 1.0})
                for name, severity in FAMILIES:
                    wait_until(lambda: notified(receiver, name, "firing", severity), DEADLINE_S,
                               f"{name} {severity} at the webhook", interval=0.5)
                wait_until(lambda: _inhibited_warning(alertmanager, ERROR_RATE), 30,
                           f"{ERROR_RATE} warning inhibited by its critical", interval=0.5)

                emulator.configure(fault_rates={"503": 0.0})
                for name, severity in FAMILIES:
                    wait_until(lambda: notified(receiver, name, "resolved", severity),
                               DEADLINE_S, f"{name} resolved at the webhook", interval=0.5)
        (payload, alert) = next((p, a) for p in receiver.payloads for a in p["alerts"]
                                if a["labels"].get("alertname") == ERROR_RATE
                                and a["labels"]["severity"] == "critical")
        assert alert["annotations"]["runbook_url"] == f"docs/runbook.md#{ERROR_RATE.lower()}"
        assert alert["annotations"]["dashboard"] == f"/d/{links.HEALTH}?var-namespace="
        assert "Error rate is" in alert["annotations"]["description"]
        assert payload["receiver"] == "critical"
    finally:
        for process in reversed(stack):
            process.stop()
        emulator.stop()


def _inhibited_warning(alertmanager, alertname: str) -> bool:
    return any(a["labels"].get("alertname") == alertname
               and a["labels"].get("severity") == "warning"
               and a["status"]["inhibitedBy"] for a in alertmanager.alerts())
