"""Template variables every dashboard shares, and the matchers that use them.

Panels never name a datasource uid: they point at the `datasource` / `loki` variables,
whose defaults are the fixed uids that provisioning creates.
"""

from __future__ import annotations

from ai_assist.telemetry import metrics as M
from observability.uids import LOKI_UID, PROMETHEUS_UID

PROMETHEUS = {"type": "prometheus", "uid": "${datasource}"}
LOKI = {"type": "loki", "uid": "${loki}"}

# Every Prometheus selector carries INSTANCE; token and call selectors on the cost
# dashboard also carry MODEL.
INSTANCE = 'instance=~"$instance"'
INSTANCE_AND_MODEL = 'instance=~"$instance", model=~"$model"'


def _datasource(name: str, label: str, plugin: str, uid: str) -> dict:
    return {
        "current": {"selected": True, "text": label, "value": uid},
        "hide": 0,
        "includeAll": False,
        "label": label,
        "multi": False,
        "name": name,
        "options": [],
        "query": plugin,
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


def _label_values(name: str, label: str, metric: str, description: str) -> dict:
    """A multi-select Prometheus label variable whose All means every value."""
    return {
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": PROMETHEUS,
        "definition": f"label_values({metric}, {name})",
        "description": description,
        "hide": 0,
        "includeAll": True,
        "label": label,
        "multi": True,
        "name": name,
        "options": [],
        "query": {"query": f"label_values({metric}, {name})", "refId": "PrometheusVariableQuery"},
        "refresh": 2,
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }


def datasource() -> dict:
    return _datasource("datasource", "Prometheus", "prometheus", PROMETHEUS_UID)


def loki() -> dict:
    return _datasource("loki", "Loki", "loki", LOKI_UID)


def instance() -> dict:
    return _label_values("instance", "Instance", M.REQUESTS_TOTAL,
                         "Service replicas (Prometheus scrape targets) to include.")


def model() -> dict:
    return _label_values("model", "Gemini model", M.GEMINI_TOKENS_TOTAL,
                         "Gemini models to include in the token and cost panels.")


def standard(*, with_model: bool = False) -> list[dict]:
    return [datasource(), loki(), instance(), *([model()] if with_model else [])]
