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


def render(dashboard) -> str:
    data = json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))
    return json.dumps(data, sort_keys=True, indent=2) + "\n"


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
