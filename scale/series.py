"""The series one replica of the service exposes, read from the service itself.

The service's Metrics class is built on a fresh registry exactly as the app builds it
(the default model, an experiment's variants), the open labels the app fills at run
time (build info, GPU index, experiment weights, canary languages) are set, and the
registry is collected: every family, its type, every label set and every histogram
bucket come from ai_assist.telemetry.metrics, never from a retyped name. Process and
platform collectors (process_cpu_seconds_total, ...) come along as the app registers
them. `_created` samples are left out (they are constant, and no query reads them).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from ai_assist import __version__
from ai_assist.config import BUNDLED_MODEL, Settings
from ai_assist.experiments.example import EXPERIMENT
from ai_assist.telemetry import metrics as catalogue
from ai_assist.telemetry.metrics import Metrics

# The simulated deployment runs an A/B experiment with two variants (the example
# experiment's name), on the service's default Gemini model, on CPU with one GPU index
# reported (the GPU gauges then have a series, as on a GPU node).
VARIANTS = ("control", "treatment")
MODEL = Settings().gemini_model
DEVICE = "cpu"
GPU_INDEX = "0"

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Family:
    name: str  # as prometheus_client names it: a counter without its _total
    kind: str  # counter | gauge | histogram
    groups: tuple[Labels, ...]  # label sets (a histogram's without `le`)
    buckets: tuple[str, ...] = ()  # a histogram's `le` values as exposed, +Inf last

    @property
    def sample_names(self) -> tuple[str, ...]:
        if self.kind == "counter":
            return (f"{self.name}_total",)
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_count", f"{self.name}_sum")
        return (self.name,)

    @property
    def series_per_replica(self) -> int:
        per_group = len(self.buckets) + 2 if self.kind == "histogram" else 1
        return len(self.groups) * per_group


def live_metrics() -> Metrics:
    """The service's metrics as a running replica holds them, open labels filled."""
    metrics = Metrics(CollectorRegistry(), model=MODEL, variants=VARIANTS)
    metrics.build_info.labels(__version__, BUNDLED_MODEL, MODEL, DEVICE).set(1)
    for gauge in (metrics.gpu_utilization, metrics.gpu_memory_used, metrics.gpu_memory_total):
        gauge.labels(GPU_INDEX)
    for variant in VARIANTS:
        metrics.experiment_weight.labels(EXPERIMENT, variant).set(1 / len(VARIANTS))
    for language in catalogue.CANARY_LANGUAGES:
        metrics.canary_hit_ratio.labels(language)
    return metrics


def replica_families() -> tuple[Family, ...]:
    """Every family one replica exposes, with its label sets."""
    out = []
    for family in live_metrics().registry.collect():
        kind = "gauge" if family.type in ("gauge", "info", "unknown") else family.type
        groups: dict[Labels, None] = {}
        buckets: dict[str, None] = {}
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = dict(sample.labels)
            le = labels.pop("le", None)
            if le is not None:
                buckets[le] = None
            groups[tuple(sorted(labels.items()))] = None
        if groups:
            out.append(Family(family.name, kind, tuple(groups), tuple(buckets)))
    return tuple(out)


def series_per_replica(families: tuple[Family, ...]) -> int:
    return sum(f.series_per_replica for f in families)
