"""What the tests read from the built Kubernetes manifests: the service's documents and
the autoscalers' queries (tests/unit/test_k8s.py, tests/stack/test_k8s_on_prometheus.py)."""

from __future__ import annotations

import yaml

from deploy import k8s_build
from observability.selectors import SELECTORS
from tests.harness.processes import ROOT

K8S = ROOT / "deploy" / "k8s"
SERVICE_NAMES = (k8s_build.NAME, f"{k8s_build.EXAMPLE_PREFIX}{k8s_build.NAME}")


def one(docs: list[dict], kind: str, name_: str | None = None) -> dict:
    """The service's document of `kind` (its name prefixed or not), or the one named."""
    names = (name_,) if name_ else SERVICE_NAMES
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] in names]
    return doc


def scaler_queries(docs: list[dict]) -> dict[str, str]:
    """Signal -> PromQL the cluster's autoscaler runs (KEDA's triggers)."""
    scaled = one(docs, "ScaledObject")
    return {t["name"]: t["metadata"]["query"] for t in scaled["spec"]["triggers"]
            if t["type"] == "prometheus"}


def adapter_values() -> dict:
    return yaml.safe_load((K8S / "prometheus-adapter" / "values.yaml").read_text())


def adapter_queries(namespace: str = "") -> dict[str, str]:
    """The adapter's queries with its label matchers filled in for `namespace` (the
    HPA's namespace, which the adapter adds through `resources.overrides`)."""
    return {r["name"]["as"]: r["metricsQuery"].replace(
                "<<.LabelMatchers>>", SELECTORS.in_namespace(namespace))
            for r in adapter_values()["rules"]["external"]}
