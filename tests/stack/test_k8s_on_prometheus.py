"""Every autoscaler query of the Kubernetes manifests (KEDA's triggers, the prometheus-adapter's
rules) against the real Prometheus of the panel proof (the manifests without a cluster:
tests/unit/test_k8s.py)."""

from __future__ import annotations

from deploy import k8s_build
from observability import autoscaling as A
from observability.selectors import SELECTORS
from tests.harness.k8s_manifests import K8S, adapter_queries, scaler_queries
from tests.harness.k8s_tools import kustomize
from tests.harness.rules import selectors


def test_every_autoscaler_query_returns_data_in_the_stack(stack_with_traffic):
    """The stack's series carry no namespace (compose's way): the queries of a deployment
    whose namespace is empty."""
    docs = kustomize(K8S / "overlays" / "gpu")
    queries = {f"keda {k}": q.replace(SELECTORS.in_namespace(k8s_build.NAMESPACE),
                                      SELECTORS.in_namespace(""))
               for k, q in scaler_queries(docs).items()}
    queries.update({f"adapter {k}": q for k, q in adapter_queries("").items()})
    # NVML reports no GPU here: the gpu signal has no series (KEDA's query reads 0)
    queries = {k: q for k, q in queries.items() if not k.startswith("adapter ") or
               A.GPU.key not in k}
    empty = [f"{where}: {q}" for where, q in queries.items()
             if len(stack_with_traffic.query(q)) != 1]
    assert not empty, "no single sample:\n" + "\n".join(empty)
    for query in queries.values():
        for selector in selectors(query):
            if f'signal="{A.GPU.key}"' not in selector:
                assert stack_with_traffic.query(selector), selector
