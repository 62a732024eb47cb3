"""Fixed datasource uids: the dashboards reference them, Grafana provisioning creates
them (dashboards/provisioning/datasources/), and a test keeps the two in step."""

PROMETHEUS_UID = "ai-assist-prometheus"
LOKI_UID = "ai-assist-loki"
ALERTMANAGER_UID = "ai-assist-alertmanager"
TEMPO_UID = "ai-assist-tempo"

# The Prometheus job that scrapes the service (prometheus/prometheus.yml).
SCRAPE_JOB = "ai-assist"
