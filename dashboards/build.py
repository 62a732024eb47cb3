"""Compile the Python dashboards to dashboards/json/<uid>.json.

    python -m dashboards.build           write the JSON
    python -m dashboards.build --check   exit 1 naming every stale or orphaned file
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "service") not in sys.path:  # `python -m dashboards.build` without PYTHONPATH
    sys.path.insert(0, str(ROOT / "service"))

from grafanalib._gen import DashboardEncoder  # noqa: E402

from dashboards import cost, health, quality, realtime  # noqa: E402
from observability import generated  # noqa: E402

OUT_DIR = ROOT / "dashboards" / "json"
MODULES = (realtime, quality, cost, health)


# What grafanalib writes and Grafana 12 ignores: keys of old schema versions, absent from
# @grafana/schema's Dashboard, Panel and RowPanel (tests/unit/test_real_tools.py type-checks
# the result against them).
DASHBOARD_LEFTOVERS = {"__inputs", "rows", "hideControls", "sharedCrosshair", "style", "gnetId"}
TIMEPICKER_LEFTOVERS = {"time_options"}  # dropped by schema version 41
PANEL_LEFTOVERS = {"span", "height", "minSpan", "error", "editable"}
ROW_KEYS = {"collapsed", "datasource", "gridPos", "id", "panels", "repeat", "title", "type"}


def _without_nulls(node, nullable: frozenset = frozenset()):
    """`node` without the nulls grafanalib writes for unset options. Kept where Grafana's
    schema has a null: a threshold step's value (the base step, -Infinity) and the open
    ends of a range mapping."""
    if isinstance(node, list):
        return [_without_nulls(item, nullable) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if value is None and key not in nullable:
            continue
        inner = frozenset()
        if key == "steps":
            inner = frozenset({"value"})
        elif key == "options" and node.get("type") == "range":
            inner = frozenset({"from", "to"})
        out[key] = _without_nulls(value, inner)
    return out


def _panel(panel: dict) -> dict:
    if panel.get("type") == "row":
        panel = {k: v for k, v in panel.items() if k in ROW_KEYS}
        panel["panels"] = [_panel(p) for p in panel.get("panels", [])]
        return panel
    return {k: v for k, v in panel.items() if k not in PANEL_LEFTOVERS}


def clean(data: dict) -> dict:
    """The dashboard JSON as Grafana 12.1 reads it, without grafanalib's leftovers."""
    data = {k: v for k, v in data.items() if k not in DASHBOARD_LEFTOVERS}
    if "timepicker" in data:
        data["timepicker"] = {k: v for k, v in data["timepicker"].items()
                              if k not in TIMEPICKER_LEFTOVERS}
    data["panels"] = [_panel(p) for p in data.get("panels", [])]
    return _without_nulls(data)


def render(dashboard) -> str:
    data = json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))
    return json.dumps(clean(data), sort_keys=True, indent=2) + "\n"


def compiled() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    out = {}
    for module in MODULES:
        dashboard = module.dashboard()
        assert dashboard.uid == module.UID, (dashboard.uid, module.UID)
        out[f"{dashboard.uid}.json"] = render(dashboard)
    return out


def _files(out_dir: Path) -> tuple[dict[Path, str], generated.Owned]:
    return ({out_dir / name: text for name, text in compiled().items()},
            [(out_dir, "*.json")])


def stale(out_dir: Path = OUT_DIR) -> list[Path]:
    return generated.stale(*_files(out_dir))


def main(argv: list[str] | None = None) -> int:
    return generated.main(argv, "dashboards.build", __doc__, "--out", OUT_DIR, _files,
                          "wrote {n} dashboards to {where}")


if __name__ == "__main__":
    sys.exit(main())
