"""Alerting as code: the plan's thresholds, SLOs, anomaly bands and service alerts as
Python data, compiled by `python -m alerting.build` into prometheus/rules/*.yml, their
promtool tests (prometheus/tests/), alerting/alertmanager.yml and docs/runbook.md.

sli.py         recording rules of the 18 SLIs       threshold_alerts.py  warning + critical per row
slo.py         burn-rate alerts, error budget       anomaly.py     anomaly bands and alerts
operational.py down, health, queue, errors          runbook.py     docs/runbook.md
alertmanager.py / render_alertmanager.py  routing   readme.py      docs/reference/*.md

The definitions these build on (the 18 rows, the SLOs, the band, PromQL helpers, uids)
are in observability/, which dashboards/ shares.
"""
