"""Template variables every dashboard shares, and the matchers that use them.

Panels never name a datasource uid: they point at the `datasource` / `loki` variables,
whose defaults are the fixed uids that provisioning creates.
"""

from __future__ import annotations

from ai_assist.telemetry import metrics as M
from observability.selectors import SELECTORS
from observability.uids import LOKI_UID, PROMETHEUS_UID

PROMETHEUS = {"type": "prometheus", "uid": "${datasource}"}
LOKI = {"type": "loki", "uid": "${loki}"}

# The deployment the viewer picked (observability/selectors.py names the labels); the
# recorded series (ai_assist:*) carry these labels and no job or instance.
DEPLOYMENT = (f'{SELECTORS.cluster_label}=~"$cluster", '
              f'{SELECTORS.namespace_label}=~"$namespace"')
# Every raw selector carries INSTANCE: the service's job, the deployment, the replicas;
# token and call selectors on the cost dashboard also carry MODEL.
INSTANCE = f'{SELECTORS.job_matcher}, {DEPLOYMENT}, instance=~"$instance"'
INSTANCE_AND_MODEL = f'{INSTANCE}, model=~"$model"'
# A series recorded per instance and model (the daily spend rate) carries no job.
RECORDED_INSTANCE_AND_MODEL = f'{DEPLOYMENT}, instance=~"$instance", model=~"$model"'


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


def _label_values(name: str, label: str, metric: str, description: str, *,
                  hide: int = 0, label_name: str = "") -> dict:
    """A multi-select Prometheus label variable whose All means every value, a series
    without the label included (the compose stack's series have no namespace)."""
    query = f"label_values({metric}, {label_name or name})"
    return {
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": PROMETHEUS,
        "definition": query,
        "description": description,
        "hide": hide,
        "includeAll": True,
        "label": label,
        "multi": True,
        "name": name,
        "options": [],
        "query": {"query": query, "refId": "PrometheusVariableQuery"},
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


def cluster() -> dict:
    """Hidden unless the consumer config says several clusters share the datasource."""
    return _label_values(
        "cluster", "Cluster",
        f"{M.REQUESTS_TOTAL}{{{SELECTORS.job_matcher}}}",
        "Clusters to include (the `cluster` label of a multi-cluster datasource).",
        hide=0 if SELECTORS.multi_cluster else 2, label_name=SELECTORS.cluster_label)


def namespace() -> dict:
    return _label_values(
        "namespace", "Namespace",
        f'{M.REQUESTS_TOTAL}{{{SELECTORS.job_matcher}, {SELECTORS.cluster_label}=~"$cluster"}}',
        "Deployments (Kubernetes namespaces) to include; the compose stack has none, and "
        "All includes series without the label.", label_name=SELECTORS.namespace_label)


def instance() -> dict:
    return _label_values("instance", "Instance",
                         f"{M.REQUESTS_TOTAL}{{{SELECTORS.job_matcher}, {DEPLOYMENT}}}",
                         "Service replicas (Prometheus scrape targets) to include.")


def model() -> dict:
    return _label_values("model", "Gemini model",
                         f"{M.GEMINI_TOKENS_TOTAL}{{{SELECTORS.job_matcher}, {DEPLOYMENT}}}",
                         "Gemini models to include in the token and cost panels.")


def standard(*, with_model: bool = False) -> list[dict]:
    return [datasource(), loki(), cluster(), namespace(), instance(),
            *([model()] if with_model else [])]
