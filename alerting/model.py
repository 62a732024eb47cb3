"""What a rule file holds: recording rules, alert rules, and the runbook entry of each
alert name. Every alert of the bundle is built from these classes."""

from __future__ import annotations

from dataclasses import dataclass, field

SEVERITIES = ("warning", "critical")
RUNBOOK = "docs/runbook.md"
# The dashboard link opens on the alert's own deployment (empty where series carry no
# namespace, as in compose, which is what the variable then matches).
DASHBOARD_QUERY = "?var-namespace={{ $labels.namespace }}"


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)

    def to_rule(self) -> dict:
        rule = {"record": self.record, "expr": self.expr}
        if self.labels:
            rule["labels"] = dict(self.labels)
        return rule


@dataclass(frozen=True)
class Alert:
    """One alert rule. Warning and critical of one condition share `name` and differ by
    `severity`, so Alertmanager's inhibit rule (alerting/alertmanager.py) can let the
    critical one silence the warning one."""

    name: str
    severity: str
    expr: str
    for_: str
    summary: str
    description: str  # carries {{ $value | humanize... }}
    dashboard: str  # Grafana dashboard uid
    fires_when: str  # plain words, for the runbook and docs/reference/alerts.md
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.severity in SEVERITIES, self.severity

    @property
    def anchor(self) -> str:
        """GitHub's anchor for the runbook heading `## <name>`."""
        return self.name.lower()

    @property
    def runbook_url(self) -> str:
        return f"{RUNBOOK}#{self.anchor}"

    @property
    def dashboard_path(self) -> str:
        return f"/d/{self.dashboard}{DASHBOARD_QUERY}"

    def to_rule(self) -> dict:
        rule = {"alert": self.name, "expr": self.expr}
        if self.for_ not in ("0s", "0m"):
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity, **self.labels}
        rule["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": self.runbook_url,
            "dashboard": self.dashboard_path,
        }
        return rule


@dataclass(frozen=True)
class Guidance:
    """The runbook entry of one alert name."""

    meaning: str
    causes: tuple[str, ...]
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Group:
    """A Prometheus rule group; `file` names the rule file under prometheus/rules/."""

    file: str
    name: str
    rules: tuple[Recording | Alert, ...]

    def to_yaml_data(self) -> dict:
        return {"name": self.name, "rules": [r.to_rule() for r in self.rules]}
