"""Links into the service's CPU profiles (Grafana Pyroscope, the datasource with uid
PYROSCOPE_UID): what the Python SDK sends (ai_assist/telemetry/profiling.py) is the
profile type PROFILE_TYPE of the series {service_name="ai-assist"}."""

from __future__ import annotations

import json
from urllib.parse import quote

from ai_assist.telemetry.logging import SERVICE_NAME
from observability.uids import PYROSCOPE_UID

PYROSCOPE_TYPE = "grafana-pyroscope-datasource"
# __name__ : sample type : unit : period type : period unit, as the SDK pushes them
PROFILE_TYPE = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
SERVICE_SELECTOR = f'{{service_name="{SERVICE_NAME}"}}'


def explore_url(label_selector: str = SERVICE_SELECTOR) -> str:
    """Grafana Explore on the CPU profile over the dashboard's time range: ${__from} and
    ${__to} stay unencoded so that Grafana fills them in when the link is followed."""
    pane = {"datasource": PYROSCOPE_UID, "queries": [{
        "refId": "A", "datasource": {"type": PYROSCOPE_TYPE, "uid": PYROSCOPE_UID},
        "queryType": "profile", "profileTypeId": PROFILE_TYPE,
        "labelSelector": label_selector, "groupBy": []}],
        "range": {"from": "@FROM@", "to": "@TO@"}}
    panes = quote(json.dumps({"cpu": pane}, separators=(",", ":"), sort_keys=True), safe="")
    panes = panes.replace("%40FROM%40", "${__from}").replace("%40TO%40", "${__to}")
    return f"/explore?schemaVersion=1&orgId=1&panes={panes}"


def cpu_profile_link() -> dict:
    """A dashboard link: the flame graph of the service's CPU time, all replicas."""
    return {"asDropdown": False, "icon": "bolt", "includeVars": False, "keepTime": False,
            "tags": [], "targetBlank": True, "title": "CPU profile of this service",
            "tooltip": "Flame graph of where the service's CPU went in this time range "
                       "(Pyroscope; needs AI_ASSIST_PROFILING_ENABLED=true)",
            "type": "link", "url": explore_url()}
