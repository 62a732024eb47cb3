"""The consumer config, kubernetes-mixin's `_config`: which series are the service's and
which labels keep two deployments apart. Every dashboard query, recording rule, alert,
KEDA trigger and prometheus-adapter rule is built from this one place.

- job: the `job` label value of the service's targets. Compose's scrape job is named so;
  in Kubernetes the ServiceMonitor pins it through `jobLabel` (deploy/k8s_build.py), so a
  kustomize `namePrefix` renames the Service without renaming the job.
- namespace: every rule and alert aggregates by it, so two deployments in one Prometheus
  never merge, and every alert carries the namespace it fired in. The compose stack's
  series have no namespace label: one group, the label simply absent.
- cluster: also aggregated by, and shown as a dashboard variable, when `multi_cluster`
  (a Thanos or Mimir that holds several clusters, each with an external `cluster` label).
"""

from __future__ import annotations

from dataclasses import dataclass

from observability.promql import Scope


@dataclass(frozen=True)
class Selectors:
    job_label: str = "job"
    job: str = "ai-assist"
    namespace_label: str = "namespace"
    cluster_label: str = "cluster"
    multi_cluster: bool = False

    @property
    def job_matcher(self) -> str:
        return f'{self.job_label}="{self.job}"'

    @property
    def group(self) -> tuple[str, ...]:
        """The labels every rule keeps apart."""
        if self.multi_cluster:
            return (self.cluster_label, self.namespace_label)
        return (self.namespace_label,)

    @property
    def rules(self) -> Scope:
        """What recording rules and alerts read: the job's series, kept apart by group."""
        return Scope(self.job_matcher, self.group)

    def in_namespace(self, namespace: str) -> str:
        """The matcher of one deployment (a KEDA trigger lives in one namespace)."""
        return f'{self.namespace_label}="{namespace}"'


SELECTORS = Selectors()
SCRAPE_JOB = SELECTORS.job
SCRAPED = SELECTORS.job_matcher
RULES = SELECTORS.rules
