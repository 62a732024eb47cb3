"""The Alertmanager config: critical alerts to chat and e-mail, warnings to chat; a
critical alert silences the warning of the same alert; links to runbook and dashboard.

Settings come from the environment (see ENV); with none set, the result is the committed
alerting/alertmanager.yml, whose secrets are files Alertmanager reads at send time
(api_url_file, auth_password_file) and whose addresses are example.com placeholders.
A rendered config never holds the Slack URL or the SMTP password either: a value given in
the environment goes into the secret file (render_alertmanager.py writes it there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ai_assist import ports
from alerting.yamlout import dump

COMMITTED_FILE = Path(__file__).resolve().with_name("alertmanager.yml")
SECRETS_DIR = "/etc/alertmanager/secrets"
# prom/alertmanager runs as nobody: its config and secret files must be readable by this uid.
ALERTMANAGER_UID = 65534
SLACK_HOSTS = ("https://hooks.slack.com/",)
# A critical alert inhibits the warning that has the same values of these labels. Absent
# on both sides counts as equal: threshold alerts match by name alone, while a failing
# component or error class does not silence another's warning.
INHIBIT_EQUAL = ["alertname", "component", "error_type"]
GROUP_BY = ["alertname", "severity"]

# Variable -> (default, meaning). docs/reference/settings.md (Alert routing) lists these.
ENV: dict[str, tuple[str, str]] = {
    "AI_ASSIST_ALERT_WEBHOOK_URL": (
        "", "Where chat alerts go. A Slack incoming-webhook URL (https://hooks.slack.com/...) "
            "becomes the Slack receiver; any other URL receives Alertmanager's webhook JSON "
            "instead of Slack. A secret: a Slack URL is written to the file that "
            "AI_ASSIST_ALERT_WEBHOOK_URL_FILE names (the config names the file); any other URL "
            "goes into the config (Alertmanager 0.25 has no url_file)."),
    "AI_ASSIST_ALERT_WEBHOOK_URL_FILE": (
        f"{SECRETS_DIR}/slack-webhook-url",
        "File holding the Slack incoming-webhook URL, read by Alertmanager (api_url_file); "
        "used when AI_ASSIST_ALERT_WEBHOOK_URL is not set."),
    "AI_ASSIST_SLACK_CHANNEL": ("#ai-assist-alerts", "Slack channel of the alerts."),
    "AI_ASSIST_ALERT_EMAIL_ENABLED": ("true", "false: critical alerts go to chat only."),
    "AI_ASSIST_ALERT_EMAIL_TO": ("oncall@example.com", "Who gets critical alerts by e-mail."),
    "AI_ASSIST_SMTP_SMARTHOST": ("smtp.example.com:587", "SMTP server, host:port."),
    "AI_ASSIST_SMTP_FROM": ("alertmanager@example.com", "Sender address."),
    "AI_ASSIST_SMTP_USERNAME": ("alertmanager", "SMTP login."),
    "AI_ASSIST_SMTP_PASSWORD": (
        "", "SMTP password. A secret: written to the file that AI_ASSIST_SMTP_PASSWORD_FILE "
            "names, never into the config."),
    "AI_ASSIST_SMTP_PASSWORD_FILE": (
        f"{SECRETS_DIR}/smtp-password",
        "File holding the SMTP password, read by Alertmanager (auth_password_file)."),
    "AI_ASSIST_SMTP_REQUIRE_TLS": ("true", "STARTTLS required."),
    "AI_ASSIST_GRAFANA_URL": (f"http://localhost:{ports.GRAFANA}",
                              "Grafana's address, for the dashboard links."),
    "AI_ASSIST_RUNBOOK_BASE_URL": (
        "", "Prefix of the runbook links, e.g. https://github.com/ORG/REPO/blob/main/ "
            "(empty: the repository path docs/runbook.md#...)."),
}


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Timing:
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"
    critical_repeat_interval: str = "1h"


@dataclass(frozen=True)
class Settings:
    values: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        return cls({name: env.get(name, default) for name, (default, _) in ENV.items()})

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def flag(self, name: str) -> bool:
        value = self[name].strip().lower()
        if value not in ("true", "false"):
            raise ConfigError(f"{name}={self[name]!r}: use true or false")
        return value == "true"

    @property
    def chat_is_slack(self) -> bool:
        url = self["AI_ASSIST_ALERT_WEBHOOK_URL"]
        return not url or url.startswith(SLACK_HOSTS)

    @property
    def inline_secrets(self) -> list[str]:
        return [name for name in ("AI_ASSIST_ALERT_WEBHOOK_URL", "AI_ASSIST_SMTP_PASSWORD")
                if self[name]]

    @property
    def secret_files(self) -> dict[str, str]:
        """Secret values given in the environment -> the file (the *_FILE setting) that
        Alertmanager reads them from; the caller writes each value there."""
        names = ["AI_ASSIST_SMTP_PASSWORD"]
        if self.chat_is_slack:
            names.append("AI_ASSIST_ALERT_WEBHOOK_URL")
        return {self[f"{name}_FILE"]: self[name] for name in names if self[name]}


def _links(settings: Settings, slack: bool) -> str:
    grafana = settings["AI_ASSIST_GRAFANA_URL"].rstrip("/")
    runbook = settings["AI_ASSIST_RUNBOOK_BASE_URL"]
    dashboard = f"{grafana}{{{{ .Annotations.dashboard }}}}"
    runbook_url = f"{runbook}{{{{ .Annotations.runbook_url }}}}"
    if slack:
        link = f"<{runbook_url}|Runbook>" if runbook else f"Runbook: {runbook_url}"
        return f"{link} | <{dashboard}|Dashboard>"
    return f"Runbook: {runbook_url}\nDashboard: {dashboard}"


def _secret(settings: Settings, name: str, key: str) -> dict[str, str]:
    """`key`_file: the file that `name`_FILE names, which Alertmanager reads at send time.
    Never the value itself, even when `name` is set (see Settings.secret_files)."""
    return {f"{key}_file": settings[f"{name}_FILE"]}


TITLE = ("[{{ .Status | toUpper }}{{ if eq .Status \"firing\" }}:{{ .Alerts.Firing | len }}"
         "{{ end }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})")


def _slack(settings: Settings) -> dict:
    text = ("{{ range .Alerts }}*{{ .Labels.severity | toUpper }}* "
            "{{ .Annotations.summary }}\n{{ .Annotations.description }}\n"
            + _links(settings, slack=True) + "\n{{ end }}")
    return {"send_resolved": True, "channel": settings["AI_ASSIST_SLACK_CHANNEL"],
            "title": TITLE, "text": text,
            **_secret(settings, "AI_ASSIST_ALERT_WEBHOOK_URL", "api_url")}


def _email(settings: Settings) -> dict:
    return {"send_resolved": True, "to": settings["AI_ASSIST_ALERT_EMAIL_TO"],
            "smarthost": settings["AI_ASSIST_SMTP_SMARTHOST"],
            "from": settings["AI_ASSIST_SMTP_FROM"],
            "auth_username": settings["AI_ASSIST_SMTP_USERNAME"],
            "require_tls": settings.flag("AI_ASSIST_SMTP_REQUIRE_TLS"),
            "headers": {"Subject": TITLE},
            "text": ("{{ range .Alerts }}[{{ .Labels.severity }}] "
                     "{{ .Annotations.summary }}\n{{ .Annotations.description }}\n"
                     + _links(settings, slack=False) + "\n\n{{ end }}"),
            **_secret(settings, "AI_ASSIST_SMTP_PASSWORD", "auth_password")}


def _chat(settings: Settings) -> dict:
    if settings.chat_is_slack:
        return {"slack_configs": [_slack(settings)]}
    return {"webhook_configs": [{"send_resolved": True,
                                 "url": settings["AI_ASSIST_ALERT_WEBHOOK_URL"]}]}


def config(settings: Settings | None = None, timing: Timing = Timing()) -> dict:
    settings = settings or Settings.from_env({})
    critical = {"name": "critical", **_chat(settings)}
    if settings.flag("AI_ASSIST_ALERT_EMAIL_ENABLED"):
        critical["email_configs"] = [_email(settings)]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "warning",  # also whatever carries no known severity
            "group_by": GROUP_BY,
            "group_wait": timing.group_wait,
            "group_interval": timing.group_interval,
            "repeat_interval": timing.repeat_interval,
            "routes": [
                {"receiver": "critical", "matchers": ['severity="critical"'],
                 "repeat_interval": timing.critical_repeat_interval},
                {"receiver": "warning", "matchers": ['severity="warning"']},
            ],
        },
        "inhibit_rules": [{"source_matchers": ['severity="critical"'],
                           "target_matchers": ['severity="warning"'],
                           "equal": INHIBIT_EQUAL}],
        "receivers": [critical, {"name": "warning", **_chat(settings)}],
    }


COMMITTED_HEADER = (
    "Generated by `make dashboards` (python -m alerting.build) from alerting/alertmanager.py.\n"
    "Critical alerts go to Slack and e-mail, warnings to Slack; a critical alert inhibits the\n"
    "warning of the same alert. No secret here: Alertmanager reads the Slack webhook URL and\n"
    f"the SMTP password from files under {SECRETS_DIR}/, and the e-mail addresses are\n"
    "example.com placeholders. For your own addresses, render a config from the environment:\n"
    "  python -m alerting.render_alertmanager --out alertmanager.local.yml")


def render(settings: Settings | None = None, timing: Timing = Timing(),
           header: str = COMMITTED_HEADER) -> str:
    return dump(config(settings, timing), header)
