"""Fixed uids: the dashboards' (alerts link to them) and the datasources' (the dashboards
reference them, Grafana provisioning creates them; a test keeps the two in step)."""

# dashboards, one per table of the plan, plus service health
REALTIME = "ai-assist-realtime"
QUALITY = "ai-assist-quality"
COST = "ai-assist-cost"
HEALTH = "ai-assist-health"
DASHBOARDS = (REALTIME, QUALITY, COST, HEALTH)
TITLES = {REALTIME: "AI Assist - Real-time Monitor", QUALITY: "AI Assist - Quality Metrics",
          COST: "AI Assist - Cost Optimization", HEALTH: "AI Assist - Service Health"}
BY_TABLE = {"performance": REALTIME, "quality": QUALITY, "cost": COST, "stability": HEALTH}

PROMETHEUS_UID = "ai-assist-prometheus"
LOKI_UID = "ai-assist-loki"
ALERTMANAGER_UID = "ai-assist-alertmanager"
TEMPO_UID = "ai-assist-tempo"
PYROSCOPE_UID = "ai-assist-pyroscope"
