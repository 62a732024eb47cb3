"""Where an alert points: the Grafana dashboard (by uid) of each of the plan's tables."""

from __future__ import annotations

from dashboards import cost, health, quality, realtime

REALTIME, QUALITY, COST, HEALTH = realtime.UID, quality.UID, cost.UID, health.UID
DASHBOARDS = (REALTIME, QUALITY, COST, HEALTH)
BY_TABLE = {"performance": REALTIME, "quality": QUALITY, "cost": COST, "stability": HEALTH}
