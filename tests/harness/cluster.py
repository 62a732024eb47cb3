"""What the Prometheus Operator does with the manifests of deploy/k8s, simulated so that
the real Prometheus and Alertmanager of this machine act on them as a cluster's would.
There is no cluster here; each step follows the operator's own source (prometheus-operator
at commit 6adcebc5, 2026-08), cited where it is done:

- ServiceMonitor -> scrape job (pkg/prometheus/promcfg.go, generateServiceMonitorConfig):
  Kubernetes discovery's meta labels relabelled into `namespace`, `service`, `pod`,
  `container`, `job` (the Service's name, or the value of the Service label that
  `jobLabel` names) and `endpoint` (the port's name). Here file-based discovery hands
  Prometheus the same meta labels, and Prometheus relabels them with those rules.
- PrometheusRule -> rule file: its `spec` is the file (pkg/prometheus/operator.go writes
  each object's groups as they are).
- AlertmanagerConfig -> part of the Alertmanager config (pkg/alertmanager/amcfg.go,
  AddAlertmanagerConfigs): its routes become one child route of the root, placed before
  the cluster's own, with receiver names prefixed `<namespace>/<name>/` (convertRoute,
  makeNamespacedString), a `namespace="<ns>"` matcher and `continue: true` added to its
  top route (namespaceEnforcer.processRoute, continueToNextRoute), the same matcher on
  both sides of its inhibit rules (namespaceEnforcer.processInhibitRule), and its
  receivers' Secret references replaced by the Secrets' values (convertReceiver).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml


def _meta_label(name: str) -> str:
    """Kubernetes label -> its meta label (the operator's sanitizeLabelName)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def one(docs: list[dict], kind: str) -> dict:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


# --- scraping -------------------------------------------------------------------------
@dataclass
class Pod:
    name: str
    address: str  # host:port, the endpoint's address


@dataclass
class Deployment:
    """One namespace's rendered overlay and the processes that stand for its pods."""

    docs: list[dict]
    pods: list[Pod] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return one(self.docs, "Deployment")["metadata"]["namespace"]

    @property
    def service(self) -> dict:
        return one(self.docs, "Service")

    @property
    def monitor(self) -> dict:
        return one(self.docs, "ServiceMonitor")

    def selected(self) -> bool:
        """The ServiceMonitor's selector matches the Service (same namespace)."""
        wanted = self.monitor["spec"]["selector"]["matchLabels"]
        return wanted.items() <= self.service["metadata"]["labels"].items()

    def file_sd(self) -> list[dict]:
        """What Kubernetes service discovery (role: endpoints) tells Prometheus of each
        pod behind the Service: the meta labels the operator's relabelling reads."""
        service = self.service
        container = one(self.docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
        port = self.monitor["spec"]["endpoints"][0]["port"]
        labels = {f"__meta_kubernetes_service_label_{_meta_label(k)}": v
                  for k, v in service["metadata"]["labels"].items()}
        return [{"targets": [pod.address], "labels": {
            **labels,
            "__meta_kubernetes_namespace": self.namespace,
            "__meta_kubernetes_service_name": service["metadata"]["name"],
            "__meta_kubernetes_pod_name": pod.name,
            "__meta_kubernetes_pod_container_name": container["name"],
            "__meta_kubernetes_endpoint_port_name": port,
        }} for pod in self.pods]

    def scrape_config(self, file_sd: Path) -> dict:
        """The scrape job the operator generates for the ServiceMonitor's first endpoint
        (promcfg.go: the relabellings in its order; the job from jobLabel when set)."""
        monitor, endpoint = self.monitor, self.monitor["spec"]["endpoints"][0]
        relabel = [
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_pod_container_name"],
             "target_label": "container"},
            {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job",
             "replacement": "${1}"},
        ]
        if monitor["spec"].get("jobLabel"):
            relabel.append({
                "source_labels": [f"__meta_kubernetes_service_label_"
                                  f"{_meta_label(monitor['spec']['jobLabel'])}"],
                "target_label": "job", "regex": "(.+)", "replacement": "${1}"})
        relabel.append({"target_label": "endpoint", "replacement": endpoint["port"]})
        name = f"serviceMonitor/{self.namespace}/{monitor['metadata']['name']}/0"
        return {"job_name": name, "metrics_path": endpoint["path"],
                "file_sd_configs": [{"files": [str(file_sd)], "refresh_interval": "1s"}],
                "relabel_configs": relabel}


def write_file_sd(path: Path, deployment: Deployment) -> Path:
    """Prometheus's file-based discovery reads `*.json` as JSON."""
    path.write_text(json.dumps(deployment.file_sd()))
    return path


def rule_file(monitoring_docs: list[dict], path: Path) -> Path:
    """The PrometheusRule as the operator mounts it: its spec is the rule file."""
    path.write_text(yaml.safe_dump({"groups": one(monitoring_docs, "PrometheusRule")
                                    ["spec"]["groups"]}, sort_keys=False))
    return path


# --- Alertmanager ---------------------------------------------------------------------
# A cluster's own config, as kube-prometheus-stack's chart writes it: every alert the
# platform does not route is dropped, the Watchdog included.
CLUSTER_BASE = {
    "global": {"resolve_timeout": "5m"},
    "route": {"receiver": "null", "group_by": ["namespace"], "group_wait": "1s",
              "group_interval": "1s", "repeat_interval": "12h",
              "routes": [{"receiver": "null", "matchers": ['alertname="Watchdog"']}]},
    "receivers": [{"name": "null"}],
    "inhibit_rules": [],
}


def _matchers(matchers: list[dict]) -> list[str]:
    return [f'{m["name"]}{m.get("matchType", "=")}"{m["value"]}"' for m in matchers]


def _route(route: dict, prefix: str) -> dict:
    """convertRoute: receiver names prefixed, CRD matchers as Alertmanager's."""
    keys = {"groupBy": "group_by", "groupWait": "group_wait",
            "groupInterval": "group_interval", "repeatInterval": "repeat_interval"}
    out = {"receiver": f"{prefix}{route['receiver']}",
           **{keys[k]: v for k, v in route.items() if k in keys}}
    if route.get("matchers"):
        out["matchers"] = _matchers(route["matchers"])
    if route.get("routes"):
        out["routes"] = [_route(child, prefix) for child in route["routes"]]
    return out


def _receiver(receiver: dict, prefix: str, secrets: dict[tuple[str, str], str]) -> dict:
    """convertReceiver: the Secret references read from the namespace's Secrets."""
    out: dict = {"name": f"{prefix}{receiver['name']}"}
    for slack in receiver.get("slackConfigs", []):
        ref = slack["apiURL"]
        out.setdefault("slack_configs", []).append({
            "send_resolved": slack["sendResolved"], "api_url": secrets[ref["name"], ref["key"]],
            "channel": slack["channel"], "title": slack["title"], "text": slack["text"]})
    for hook in receiver.get("webhookConfigs", []):
        out.setdefault("webhook_configs", []).append(
            {"send_resolved": hook["sendResolved"], "url": hook["url"]})
    for mail in receiver.get("emailConfigs", []):
        ref = mail["authPassword"]
        out.setdefault("email_configs", []).append({
            "send_resolved": mail["sendResolved"], "to": mail["to"], "from": mail["from"],
            "smarthost": mail["smarthost"], "auth_username": mail["authUsername"],
            "auth_password": secrets[ref["name"], ref["key"]],
            "require_tls": mail["requireTLS"],
            "headers": {h["key"]: h["value"] for h in mail.get("headers", [])},
            "text": mail["text"]})
    return out


def selected_by(alertmanager_spec: dict, docs: list[dict]) -> bool:
    """Whether an Alertmanager with this spec reads the AlertmanagerConfig of `docs` (its
    namespace's labels and its own against the two selectors; a nil namespace selector
    means the Alertmanager's own namespace only: alertmanager_types.go)."""
    config, space = one(docs, "AlertmanagerConfig"), one(docs, "Namespace")
    namespaces = alertmanager_spec.get("alertmanagerConfigNamespaceSelector")
    configs = alertmanager_spec.get("alertmanagerConfigSelector")
    if namespaces is None or configs is None:
        return False
    return (namespaces.get("matchLabels", {}).items() <= space["metadata"]["labels"].items()
            and configs.get("matchLabels", {}).items()
            <= config["metadata"].get("labels", {}).items())


def merge_alertmanager_configs(base: dict, configs: list[tuple[dict, dict]]) -> dict:
    """The cluster's config with each AlertmanagerConfig merged in as the operator does
    (AddAlertmanagerConfigs). `configs`: (AlertmanagerConfig, {(secret, key): value} of
    its namespace's Secrets), taken in the operator's order (sorted by namespace/name)."""
    merged = yaml.safe_load(yaml.safe_dump(base))
    sub_routes = []
    for config, secrets in sorted(configs, key=lambda c: (c[0]["metadata"]["namespace"],
                                                          c[0]["metadata"]["name"])):
        namespace, name = config["metadata"]["namespace"], config["metadata"]["name"]
        prefix, spec = f"{namespace}/{name}/", config["spec"]
        enforced = f'namespace="{namespace}"'
        for rule in spec.get("inhibitRules", []):
            merged["inhibit_rules"].append({
                "source_matchers": [*_matchers(rule["sourceMatch"]), enforced],
                "target_matchers": [*_matchers(rule["targetMatch"]), enforced],
                "equal": rule["equal"]})
        route = _route(spec["route"], prefix)
        route["matchers"] = [*route.get("matchers", []), enforced]
        route["continue"] = True
        sub_routes.append(route)
        merged["receivers"] += [_receiver(r, prefix, secrets) for r in spec["receivers"]]
    merged["route"]["routes"] = [*sub_routes, *merged["route"]["routes"]]
    return merged
