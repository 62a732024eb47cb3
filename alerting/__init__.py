"""Alerting as code: the plan's thresholds, SLOs, anomaly bands and service alerts as
Python data, compiled by `python -m alerting.build` into prometheus/rules/*.yml, their
promtool tests (prometheus/tests/), alerting/alertmanager.yml and docs/runbook.md.

thresholds.py  the 18 rows (goal, warning, critical)  sli.py         their recording rules
threshold_alerts.py  warning + critical per row      slo.py         burn-rate alerts, budget
bands.py / anomaly.py  anomaly bands and alerts      operational.py down, health, queue, errors
alertmanager.py / render_alertmanager.py  routing    runbook.py     docs/runbook.md
"""
