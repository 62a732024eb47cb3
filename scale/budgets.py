"""The budgets `make scale-check` enforces: one place, quoted by
docs/operations/at-scale.md.

- A rule or alert expression may load at most half of Prometheus's default
  --query.max-samples in one evaluation with 200 replicas, counting the samples it
  would load at the production scrape and evaluation intervals over the full history
  (the simulation's own count scaled up; see run.py). Its peak (what max-samples
  really limits) is held to the same figure as measured.
- A dashboard target over a 24 h range with 100 replicas answers within 1 s (the
  client's wall time, best of three: the retries come after the other queries), on the
  machine the check runs on.
"""

MAX_SAMPLES_DEFAULT = 50_000_000  # Prometheus's --query.max-samples default
RULE_SAMPLES = MAX_SAMPLES_DEFAULT // 2
RULE_SAMPLES_AT_REPLICAS = 200
DASHBOARD_SECONDS = 1.0
DASHBOARD_RANGE_S = 24 * 3600
DASHBOARD_AT_REPLICAS = 100
RETRIES_OVER_BUDGET = 2  # an over-budget query: timed twice more, after the others
