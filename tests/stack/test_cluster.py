"""Two deployments in one cluster, simulated: the manifests of deploy/k8s as a platform
engineer applies them (the CPU overlay in namespace ai-assist, the example overlay in
another namespace with a name prefix), each deployment two replicas of the real service
with its own Gemini emulator, scraped by the real Prometheus with the target labels the
Prometheus Operator gives ServiceMonitor targets, evaluating the rendered PrometheusRule,
and alerting a real Alertmanager whose config is the cluster's own with both
AlertmanagerConfigs merged in as the operator merges them (tests/harness/cluster.py says
which operator source each step follows).

The rules are rendered with every window and `for:` scaled by 1/30, as in the alert test.
Staging's Gemini is slow, then failing; prod's is healthy. Nothing of one namespace may
show in the other's recorded series, autoscaler triggers, dashboards or alerts, and each
namespace's alerts reach its own receiver.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import yaml

from ai_assist.telemetry import metrics as M
from alerting import rules as alert_rules
from alerting.threshold_alerts import alert_name
from deploy import k8s_build
from observability import autoscaling as A
from observability import slo
from observability.durations import Scale
from observability.selectors import SELECTORS
from observability.thresholds import BY_KEY
from tests.harness import cluster as C
from tests.harness.panels import all_queries, load_dashboards
from tests.harness.processes import start_emulator, start_service, wait_until
from tests.harness.prom import WebhookReceiver, start_alertmanager, start_prometheus
from tests.harness.proof import evaluate
from tests.harness.traffic import Background
from tests.harness.k8s_tools import kustomize

SCALE = Scale(1 / 30)
SCRAPE_S = 1.0
DEADLINE_S = 90
PROD, STAGING = k8s_build.NAMESPACE, k8s_build.EXAMPLE_NAMESPACE
STAGING_LATENCY_MS = 1500  # staging's Gemini answers this much slower than prod's
FALLBACK = alert_name(BY_KEY["fallback_ratio"])


@dataclass
class Cluster:
    prom: object
    alertmanager: object
    deployments: dict  # namespace -> tests.harness.cluster.Deployment
    emulators: dict
    services: dict  # namespace -> [Service]
    receivers: dict  # namespace -> WebhookReceiver (its Slack webhook URL)
    merged_config: object  # Path of the Alertmanager config
    traffic: dict  # namespace -> Background


def _start(work, emulator, count: int = 2):
    env = {"AI_ASSIST_GEMINI_BASE_URL": emulator.url, "AI_ASSIST_LLM_TIMEOUT_S": "5",
           "AI_ASSIST_LLM_BACKOFF_S": "0.01", "AI_ASSIST_RATE_LIMIT_PER_MINUTE": "0"}
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda i: start_service(work, env), range(count)))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("cluster")
    k8s_build.write(work / "k8s", SCALE)
    deployments = {d.namespace: d for d in (
        C.Deployment(kustomize(work / "k8s" / "overlays" / "cpu")),
        C.Deployment(kustomize(work / "k8s" / "overlays" / "example-staging")))}
    assert set(deployments) == {PROD, STAGING}
    monitoring = kustomize(work / "k8s" / "monitoring")
    emulators, services, stack, receivers = {}, {}, [], {}
    try:
        for namespace, deployment in deployments.items():
            emulators[namespace] = start_emulator(work)
            services[namespace] = _start(work, emulators[namespace])
            name = C.one(deployment.docs, "Deployment")["metadata"]["name"]
            deployment.pods = [C.Pod(f"{name}-{i}", s.target)
                               for i, s in enumerate(services[namespace])]
            receivers[namespace] = WebhookReceiver().__enter__()
        emulators[STAGING].configure(latency_ms=STAGING_LATENCY_MS)
        spec = yaml.safe_load((work / "k8s" / "kube-prometheus-stack" / "values.yaml")
                              .read_text())["alertmanager"]["alertmanagerSpec"]
        assert all(C.selected_by(spec, d.docs) for d in deployments.values())
        configs = [(C.one(d.docs, "AlertmanagerConfig"),
                    {(k8s_build.RECEIVERS, "slack-webhook-url"): receivers[ns].url,
                     (k8s_build.RECEIVERS, "smtp-password"): "unused"})
                   for ns, d in deployments.items()]
        merged = work / "alertmanager.yml"
        merged.write_text(yaml.safe_dump(C.merge_alertmanager_configs(C.CLUSTER_BASE, configs)))
        alertmanager = start_alertmanager(work, merged)
        stack.append(alertmanager)
        jobs = [d.scrape_config(C.write_file_sd(work / f"{ns}.json", d))
                for ns, d in deployments.items()]
        prom = start_prometheus(work, [], [C.rule_file(monitoring, work / "rules.yml")],
                                alertmanager_url=alertmanager.url,
                                scrape_interval=f"{SCRAPE_S:g}s",
                                evaluation_interval=f"{SCRAPE_S:g}s", jobs=jobs)
        stack.append(prom)
        traffic = {ns: Background(*(s.url for s in services[ns]), client_id=ns).__enter__()
                   for ns in deployments}
        yield Cluster(prom, alertmanager, deployments, emulators, services, receivers,
                      merged, traffic)
    finally:
        for background in locals().get("traffic", {}).values():
            background.__exit__(None, None, None)
        for process in reversed(stack):
            process.stop()
        for replicas in services.values():
            for service in replicas:
                service.stop()
        for emulator in emulators.values():
            emulator.stop()
        for receiver in receivers.values():
            receiver.__exit__(None, None, None)


def _by_namespace(samples) -> dict[str, float]:
    out = {}
    for labels, value in samples:
        namespace = labels.get(SELECTORS.namespace_label, "")
        assert namespace not in out, f"two series for namespace {namespace!r}: {samples}"
        out[namespace] = value
    return out


def _recorded(cluster: Cluster, expr: str) -> dict[str, float] | None:
    values = _by_namespace(cluster.prom.query(expr))
    return values if set(values) == {PROD, STAGING} else None


# --- scraping ---------------------------------------------------------------------------
def test_targets_carry_the_operators_labels_and_one_job(cluster):
    """The job comes from the Service label that jobLabel names, so the staging Service's
    name prefix leaves it alone; namespace, service, pod, container and endpoint come
    from discovery as the operator relabels them."""
    up = wait_until(lambda: (s := cluster.prom.query(f"up{{{SELECTORS.job_matcher}}} == 1"))
                    and len(s) == 4 and s, 60, "all four replicas scraped")
    for namespace, deployment in cluster.deployments.items():
        assert deployment.selected(), f"{namespace}: the ServiceMonitor selects no Service"
        mine = [labels for labels, _ in up if labels["namespace"] == namespace]
        assert {m["pod"] for m in mine} == {p.name for p in deployment.pods}
        for labels in mine:
            assert labels["job"] == SELECTORS.job
            assert labels["service"] == deployment.service["metadata"]["name"]
            assert (labels["endpoint"], labels["container"]) == ("http", k8s_build.NAME)
    assert cluster.deployments[STAGING].service["metadata"]["name"] == \
        f"{k8s_build.EXAMPLE_PREFIX}{k8s_build.NAME}"


# --- recording rules and autoscaling ------------------------------------------------------
def _restricted(expr: str, instances: list[str]) -> str:
    """`expr` reading only these replicas: a selection apart from the namespace label."""
    regex = "|".join(instances).replace(".", "\\\\.")
    return expr.replace(SELECTORS.job_matcher, f'{SELECTORS.job_matcher}, instance=~"{regex}"')


def test_each_namespace_is_recorded_apart(cluster):
    """Two replicas each (merged, four); every rule over the service's raw series holds,
    in each namespace, what the same expression gives over that namespace's replicas
    picked by instance, at the rule's own evaluation time."""
    wait_until(lambda: _recorded(cluster, A.REPLICAS) == {PROD: 2, STAGING: 2}, 60,
               "two replicas recorded in each namespace (merged, four)")
    p95 = BY_KEY["latency_p95"].record
    values = wait_until(lambda: (v := _recorded(cluster, p95)) and v[STAGING] > 0 and v,
                        DEADLINE_S, "staging's p95 recorded")
    # every staging request waits for its slow Gemini (the client's own timings)
    assert min(r.seconds for r in cluster.traffic[STAGING].tally.records) > \
        STAGING_LATENCY_MS / 1000
    assert values[STAGING] >= STAGING_LATENCY_MS / 1000, values
    rules = [r for g in cluster.prom.rules() for r in g["rules"]
             if r["type"] == "recording" and SELECTORS.job_matcher in r["query"]]
    raw_reading = [r for r in alert_rules.all_recordings(SCALE)
                   if SELECTORS.job_matcher in r.expr]
    assert len(rules) == len(raw_reading) > 30
    # The expressions, not the recorded samples: a rule evaluated while a scrape was still
    # landing missed that scrape, so only one evaluation time, in the past, compares exactly.
    at = _settled(cluster)
    problems, kept_apart = [], 0
    for rule in rules:
        full = _keyed(cluster.prom.query(rule["query"], at=at))
        if any(SELECTORS.namespace_label not in dict(key) for key in full):
            problems.append(f"{rule['name']}: a series without its namespace: {full}")
        for namespace, services in cluster.services.items():
            mine = {k: v for k, v in full.items() if dict(k).get("namespace") == namespace}
            own = _keyed(cluster.prom.query(
                _restricted(rule["query"], [s.target for s in services]), at=at))
            if mine != pytest.approx(own, rel=1e-9, abs=1e-12):
                problems.append(f"{rule['name']} in {namespace}: {mine} instead of {own}")
        kept_apart += len({dict(k).get("namespace") for k in full}) == 2
    assert not problems, "\n".join(problems)
    assert kept_apart >= len(rules) - 3, "the traffic reached too few rules in both"


def _settled(cluster: Cluster) -> float:
    """A time in the past at which every replica's last scrape had succeeded (a scrape
    that times out on a loaded machine leaves its gauges stale for a moment) and both
    namespaces had answered requests within the rules' (scaled) 5-minute window."""
    answered = (f"sum by (namespace) (increase({M.REQUESTS_TOTAL}"
                f"{{{SELECTORS.job_matcher}}}[{SCALE('5m')}])) > 0")

    def settled():
        at = time.time() - 2 * SCRAPE_S
        up = cluster.prom.query(f"up{{{SELECTORS.job_matcher}}}", at=at)
        both = len(cluster.prom.query(answered, at=at)) == 2
        # the SLOs' last rules (their group reads the others' recordings) in both
        budgets = len(cluster.prom.query(slo.BUDGET_REMAINING, at=at)) == 2 * len(slo.SLOS)
        return at if both and budgets and len(up) == 4 and all(v == 1 for _, v in up) else None
    return wait_until(settled, DEADLINE_S, "every replica scraped, both namespaces busy")


def _keyed(samples) -> dict[tuple, float]:
    return {tuple(sorted(labels.items())): value for labels, value in samples}


def test_each_keda_trigger_sees_its_own_namespace(cluster):
    """The ScaledObject of each rendered overlay asks for its own namespace's signal (the
    kustomize replacements wrote it), and gets the value the rules recorded there."""
    for namespace, deployment in cluster.deployments.items():
        scaled = C.one(deployment.docs, "ScaledObject")
        assert scaled["spec"]["scaleTargetRef"]["name"] == \
            C.one(deployment.docs, "Deployment")["metadata"]["name"]
        for trigger in (t for t in scaled["spec"]["triggers"] if t["type"] == "prometheus"):
            query = trigger["metadata"]["query"]
            assert f'namespace="{namespace}"' in query
            recorded = f'{A.SIGNAL}{{signal="{trigger["name"]}"}}'

            def same():
                # one timestamp for both, taken after a rule evaluation
                at = time.time()
                (keda,) = cluster.prom.query(query, at=at)
                mine = _by_namespace(cluster.prom.query(recorded, at=at)).get(namespace, 0)
                return keda[1] == pytest.approx(mine) or None

            wait_until(same, 30, f"{namespace} {trigger['name']}: KEDA = recorded")
    latency = {ns: cluster.prom.query(_trigger(d, A.LATENCY.key))[0][1]
               for ns, d in cluster.deployments.items()}
    assert latency[STAGING] >= STAGING_LATENCY_MS / 1000, (latency, {
        ns: (b.sent, b.tally.statuses, b._thread.is_alive()) for ns, b in cluster.traffic.items()})


def _trigger(deployment: C.Deployment, name: str) -> str:
    (trigger,) = [t for t in C.one(deployment.docs, "ScaledObject")["spec"]["triggers"]
                  if t["name"] == name]
    return trigger["metadata"]["query"]


# --- dashboards -------------------------------------------------------------------------
def test_every_dashboard_target_selects_one_namespace(cluster):
    """Every target with a namespace picked equals the same target with that namespace's
    replicas picked by instance instead (a selection that does not rely on the namespace
    label), and the two namespaces differ where their traffic did."""
    wait_until(lambda: _recorded(cluster, BY_KEY["latency_p95"].record), 60, "traffic recorded")
    at, interval_s = _settled(cluster), 60
    problems, compared, differ = [], 0, 0
    queries = [q for q in all_queries(load_dashboards()) if q.kind == "prometheus"]
    for q in queries:
        if '$instance' not in q.expr:  # recorded per namespace: the rules' proof above
            continue
        values = {}
        for namespace, replicas in cluster.services.items():
            by_namespace = _Stack(cluster, {"namespace": namespace})
            instances = "|".join(s.target for s in replicas).replace(".", "\\\\.")
            by_instance = _Stack(cluster, {"instance": instances})
            got = sorted(v for _, v in evaluate(by_namespace, q.expr, at, interval_s))
            want = sorted(v for _, v in evaluate(by_instance, q.expr, at, interval_s))
            if got != pytest.approx(want, rel=1e-9, abs=1e-12):
                problems.append(f"{q.dashboard} / {q.panel} / {q.ref} in {namespace}: "
                                f"{got} instead of {want}")
            values[namespace] = got
        compared += 1
        differ += values[PROD] != values[STAGING]
    assert not problems, "\n".join(problems)
    assert compared >= 90 and differ >= 20, (compared, differ)


class _Stack:
    """What tests.harness.proof.evaluate reads, with the template variables picked."""

    def __init__(self, cluster: Cluster, variables: dict) -> None:
        self.prom, self.scrape_interval_s, self.variables = cluster.prom, SCRAPE_S, variables


def test_a_default_deployment_shows_no_bare_no_data(cluster):
    """Both deployments run the defaults (no experiment, no response cache, no canary,
    no GPU): a target that returns nothing there belongs to a panel that says why
    (its `noValue` text, e.g. "No experiment running") instead of Grafana's "No data"."""
    at, bare, empty = _settled(cluster), [], 0
    for q in (q for q in all_queries(load_dashboards()) if q.kind == "prometheus"):
        if evaluate(_Stack(cluster, {"namespace": PROD}), q.expr, at, 60):
            continue
        empty += 1
        said = q.panel_json.get("fieldConfig", {}).get("defaults", {}).get("noValue", "")
        if not said.strip():
            bare.append(f"{q.dashboard} / {q.panel} / {q.ref}")
    assert not bare, "No data, and no word why:\n" + "\n".join(bare)
    assert empty, "the default deployment showed every panel: the check saw nothing off"


# --- alerts -------------------------------------------------------------------------------
def _slack_titles(receiver: WebhookReceiver) -> list[str]:
    return [payload.get("attachments", [{}])[0].get("title", "")
            for payload in receiver.payloads]


def test_alertmanager_routes_each_namespace_to_its_receiver(cluster):
    """amtool's routing of the merged config: each namespace's alerts to its own
    receivers, the cluster's Watchdog to the cluster's, never to ours."""
    def route(*labels: str) -> str:
        out = subprocess.run(["amtool", "config", "routes", "test",
                              f"--config.file={cluster.merged_config}", *labels],
                             capture_output=True, text=True, timeout=60, check=True)
        return out.stdout.strip()

    for namespace, deployment in cluster.deployments.items():
        name = C.one(deployment.docs, "AlertmanagerConfig")["metadata"]["name"]
        assert route(f"namespace={namespace}", "severity=critical", "alertname=X") == \
            f"{namespace}/{name}/critical"
        assert route(f"namespace={namespace}", "severity=warning", "alertname=X") == \
            f"{namespace}/{name}/warning"
    assert route("namespace=monitoring", "alertname=Watchdog") == "null"
    assert route("namespace=kube-system", "severity=critical", "alertname=KubePodCrashLooping") \
        == "null"


def test_faults_in_one_namespace_alert_there_only(cluster):
    """Staging's Gemini fails: staging's fallback alert fires with its namespace and
    reaches staging's receiver; prod's stays quiet. Then staging's replicas stop: the
    service-down page fires for staging alone (a sum over both would still see prod)."""
    cluster.emulators[STAGING].configure(fault_rates={"503": 1.0}, latency_ms=0)

    def firing(name: str, severity: str) -> set[str]:
        return {a["labels"].get("namespace", "") for a in cluster.prom.alerts()
                if a["labels"]["alertname"] == name and a["labels"]["severity"] == severity
                and a["state"] == "firing"}

    wait_until(lambda: firing(FALLBACK, "critical"), DEADLINE_S, f"{FALLBACK} firing")
    assert firing(FALLBACK, "critical") == {STAGING}
    title = f"{FALLBACK} (critical)"
    wait_until(lambda: any(title in t for t in _slack_titles(cluster.receivers[STAGING])),
               DEADLINE_S, "staging's receiver notified", interval=0.5)
    assert not any(FALLBACK in t for t in _slack_titles(cluster.receivers[PROD]))
    payload = next(p for p in cluster.receivers[STAGING].payloads
                   if title in p["attachments"][0]["title"])
    text = payload["attachments"][0]["text"]
    assert f"{k8s_build.LINK_SETTINGS['AI_ASSIST_GRAFANA_URL']}/d/" in text
    assert k8s_build.LINK_SETTINGS["AI_ASSIST_RUNBOOK_BASE_URL"] in text

    cluster.traffic[STAGING].__exit__(None, None, None)
    for service in cluster.services[STAGING]:
        service.stop()
    wait_until(lambda: firing("AIAssistServiceDown", "critical"), DEADLINE_S,
               "AIAssistServiceDown critical")
    assert firing("AIAssistServiceDown", "critical") == {STAGING}
    assert FALLBACK not in {a["labels"]["alertname"] for a in cluster.prom.alerts()
                            if a["labels"].get("namespace") == PROD}
