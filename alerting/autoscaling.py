"""Each autoscaling signal per deployment (what KEDA and prometheus-adapter read) and the
desired replica count as recording rules (observability/autoscaling.py has the
formula), so that a compose stack, where no orchestrator acts, shows when a scale-out is
due, and the alert AIAssistScaleOutDue (alerting/operational.py) can say so."""

from __future__ import annotations

from alerting.model import Recording
from observability import autoscaling as A
from observability.durations import COMMITTED, Scale


def recordings(scale: Scale = COMMITTED) -> list[Recording]:
    return [Recording(A.REPLICAS, A.replicas_expr()),
            *(Recording(A.SIGNAL, s.expr(scale=scale), {"signal": s.key}) for s in A.SIGNALS),
            *(Recording(A.SIGNAL_DESIRED, A.signal_desired_expr(s), {"signal": s.key})
              for s in A.SIGNALS),
            Recording(A.UNSTABILISED, A.unstabilised_expr()),
            Recording(A.DESIRED, A.desired_expr(scale))]
