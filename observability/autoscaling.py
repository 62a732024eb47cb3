"""Autoscaling on the plan's signals (3.2): one definition for the KEDA ScaledObject, the
HPA alternative (prometheus-adapter), the desired-replicas recording rules, the
real-time dashboard and the capacity simulation.

The plan scales up when more than 100 texts wait for the embedding model or the GPU is
over 80 % busy. Here each signal is an HPA metric with a target, and the count it asks
for follows the HPA's documented algorithm
(https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#algorithm-details):

    ratio   = metric / target                      (Value)
            = metric / (target * current)          (AverageValue: metric is a total)
    desired = current                 when |ratio - 1| <= TOLERANCE
            = ceil(current * ratio)   otherwise
    over the signals: the largest, clamped to [MIN_REPLICAS, MAX_REPLICAS]; a scale-down
    takes the largest desired count of the last SCALE_DOWN_WINDOW (stabilisation), a
    scale-up takes effect at once.

Signals: texts queued on the embedding model (a total over the replicas, 100 per
replica), GPU utilisation (a total of each replica's busiest GPU, 0.8 per replica; the
gpu overlay only) and p95 response time as a guardrail (a value, the plan's 30 s goal).
The service bounds a request by its deadline (25 s), so a p95 above 30 s means replicas
too busy to serve their queue, which more replicas fix; a slow Gemini cannot push it there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from ai_assist.telemetry import metrics as M
from observability.durations import COMMITTED, Scale
from observability.promql import Scope, aggregate, scope_of, sel
from observability.sli import WINDOW  # the latency guardrail's window, as the alerts' SLI
from observability.thresholds import BY_KEY
from observability.selectors import RULES, SELECTORS

TOLERANCE = 0.1  # the HPA controller's default (--horizontal-pod-autoscaler-tolerance)
MIN_REPLICAS = 1
MAX_REPLICAS = 10
SCALE_DOWN_WINDOW = "5m"  # the HPA's default scale-down stabilisation (300 s)
SCALE_UP_WINDOW = "0s"  # the HPA's default: scale up at once
# The HPA's default rate policies, written out so the manifests state them: per 15 s,
# up by 4 pods or 100 % (the larger), down by 100 %.
POLICY_PERIOD_S = 15
SCALE_UP_PODS = 4
SCALE_UP_PERCENT = 100
SCALE_DOWN_PERCENT = 100
POLLING_INTERVAL_S = 15  # KEDA asks Prometheus this often (and the HPA syncs every 15 s)
# How long a scale-out stays due before the alert says so: longer than a pod's start, so
# that it stays quiet where an orchestrator acts and speaks where none does.
SCALE_OUT_DUE_FOR = "5m"

Query = Callable[["str | Scope", str], str]  # (selection, window) -> PromQL, a number a group


@dataclass(frozen=True)
class Signal:
    key: str
    title: str
    metric: str  # the catalogue metric it reads
    metric_type: str  # "AverageValue": the query is a total; "Value": compared as it is
    target: float
    activation: float  # KEDA: the trigger counts as active above this
    unit: str  # Grafana unit id
    query: Query
    overlays: tuple[str, ...]  # the k8s overlays that scale on it
    meaning: str

    def expr(self, m: str | Scope = RULES, scale: Scale = COMMITTED) -> str:
        return self.query(m, scale(WINDOW))

    def trigger_query(self, namespace: str) -> str:
        """What KEDA asks: the recorded signal of one deployment (kustomize's
        replacements write its namespace into the one quoted value after `namespace=`)."""
        return (f'sum({SIGNAL}{{signal="{self.key}", {SELECTORS.in_namespace(namespace)}}})'
                f" or on() vector(0)")


def _or_zero(expr: str, m: str | Scope) -> str:
    """0 where the metric has no series (no GPU on a CPU host): a lone query 0, a grouped
    one 0 in every group that has targets."""
    scope = scope_of(m)
    if not scope.by:
        return f"{expr} or on() vector(0)"
    return f"{expr} or {scope.on} {aggregate('sum', sel('up', m=m), m)} * 0"


def _queue(m: str | Scope, w: str) -> str:
    return _or_zero(aggregate("sum", sel(M.EMBEDDING_QUEUE_DEPTH, m=m), m), m)


def _gpu(m: str | Scope, w: str) -> str:
    busiest = aggregate("max", sel(M.GPU_UTILIZATION, m=m), m, "instance")
    return _or_zero(aggregate("sum", busiest, m), m)


def _latency(m: str | Scope, w: str) -> str:
    return BY_KEY["latency_p95"].expr(w, m)


QUEUE = Signal(
    "queue", "Texts queued per replica", M.EMBEDDING_QUEUE_DEPTH, "AverageValue", 100, 1,
    "short", _queue, ("cpu", "gpu"),
    "texts waiting for the embedding model, summed over the replicas; 100 per replica "
    "(the plan's 3.2: scale up past 100 queued)")
GPU = Signal(
    "gpu", "GPU utilisation per replica", M.GPU_UTILIZATION, "AverageValue", 0.8, 0.05,
    "percentunit", _gpu, ("gpu",),
    "each replica's busiest GPU, summed; 0.8 per replica (the plan's 3.2: scale up past "
    "80 %); absent on a CPU host, where it reads 0")
LATENCY = Signal(
    "latency", "p95 response time (guardrail)", M.REQUEST_DURATION, "Value",
    BY_KEY["latency_p95"].goal, BY_KEY["latency_p95"].goal, "s", _latency, ("cpu", "gpu"),
    f"p95 of the end-to-end time over {WINDOW}; the plan's 30 s goal as the target, so "
    "it adds replicas only when the replicas are too busy to meet it")
SIGNALS = (QUEUE, GPU, LATENCY)


# The plan's "CPU/GPU utilisation > 80 %" on CPU nodes: the kubelet's CPU utilisation of
# the pod's CPU request (KEDA's `cpu` trigger, the HPA's Resource metric), which reads no
# Prometheus series, so the recording rules (compose has no CPU request to be relative
# to) leave it out. Unlike the queue, which only grows once replicas are saturated, it
# tells two busy replicas from idle ones; without it the count saws between the minimum
# and a burst (deploy/capacity.py shows both).
CPU_UTILIZATION_PERCENT = 80
CPU_OVERLAYS = ("cpu",)


def signals_for(overlay: str) -> tuple[Signal, ...]:
    return tuple(s for s in SIGNALS if overlay in s.overlays)


def hpa_count(metric: float, target: float, current: int, average: bool) -> int:
    """One signal's count, the formula above in Python (deploy/capacity.py simulates with
    it; alerting/unittests.py checks the recording rules against it): AverageValue
    (`average`: the metric is a total over the replicas) or Value."""
    base = max(current, 1)
    ratio = metric / (target * base) if average else metric / target
    if abs(ratio - 1) <= TOLERANCE:
        return current
    return math.ceil(metric / target) if average else math.ceil(base * ratio)


# --- the recording rules' names and PromQL -------------------------------------------
REPLICAS = "ai_assist:autoscaler_replicas:count"
SIGNAL = "ai_assist:autoscaler_signal:value"  # each signal's metric, per deployment
SIGNAL_DESIRED = "ai_assist:autoscaler_desired_replicas:signal"
UNSTABILISED = "ai_assist:autoscaler_desired_replicas:unstabilised"
DESIRED = "ai_assist:autoscaler_desired_replicas"


def replicas_expr(m: Scope = RULES) -> str:
    """Replicas that answer their scrape: what the HPA calls the current count (0 in a
    group whose every target is down)."""
    up = sel("up", m=m)
    return f"{aggregate('count', f'{up} == 1', m)} or {m.on} {aggregate('sum', up, m)} * 0"


def _g(value: float) -> str:
    return f"{value:g}"


def signal_desired_expr(signal: Signal, current: str = REPLICAS) -> str:
    """The HPA's count for one signal, with the tolerance, per deployment, from the
    recorded signal and `current`, the current count (recorded, one sample a group)."""
    recorded = sel(SIGNAL, f'signal="{signal.key}"')
    metric = f"({aggregate('sum', recorded, RULES)})"
    base = f"clamp_min({current}, 1)"
    if signal.metric_type == "AverageValue":
        ratio = f"{metric} / ({_g(signal.target)} * {base})"
        wanted = f"ceil({metric} / {_g(signal.target)})"
    else:
        ratio = f"{metric} / {_g(signal.target)}"
        wanted = f"ceil({base} * {ratio})"
    on = RULES.on
    return f"({current} and {on} (abs({ratio} - 1) <= {_g(TOLERANCE)})) or {on} {wanted}"


def unstabilised_expr() -> str:
    """The largest vote within the bounds; the minimum where no signal has a vote."""
    votes = f"{aggregate('max', SIGNAL_DESIRED, RULES)} or {RULES.on} {REPLICAS} * 0"
    return f"clamp({votes}, {MIN_REPLICAS}, {MAX_REPLICAS})"


def desired_expr(scale: Scale = COMMITTED) -> str:
    """Up at once; down only to the largest count of the stabilisation window; else hold."""
    held = f"max_over_time({UNSTABILISED}[{scale(SCALE_DOWN_WINDOW)}])"
    on = RULES.on
    return (f"({UNSTABILISED} and {on} ({UNSTABILISED} > {on} {REPLICAS}))"
            f" or {on} ({held} and {on} ({held} < {on} {REPLICAS}))"
            f" or {on} {REPLICAS}")


def describe() -> str:
    """The rule in words, for descriptions and the runbook."""
    parts = ", ".join(f"{s.title.lower()} (target {_g(s.target)})" for s in SIGNALS)
    return (f"the HPA's count over {parts}: ceil(current x metric / target) per signal, "
            f"{TOLERANCE:.0%} tolerance, the largest, within {MIN_REPLICAS}-{MAX_REPLICAS}, "
            f"scale-down held for {SCALE_DOWN_WINDOW}")
