"""Compile the Python dashboards to dashboards/json/<uid>.json.

    python -m dashboards.build           write the JSON
    python -m dashboards.build --check   exit 1 naming every stale or orphaned file
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "service") not in sys.path:  # `python -m dashboards.build` without PYTHONPATH
    sys.path.insert(0, str(ROOT / "service"))

from grafanalib._gen import DashboardEncoder  # noqa: E402

from dashboards import cost, health, quality, realtime  # noqa: E402

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


def stale(out_dir: Path = OUT_DIR) -> list[str]:
    fresh = compiled()
    problems = [name for name, text in fresh.items()
                if not (out_dir / name).is_file() or (out_dir / name).read_text() != text]
    problems += [p.name for p in sorted(out_dir.glob("*.json")) if p.name not in fresh]
    return sorted(problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a committed file is stale")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check:
        problems = stale(args.out)
        for name in problems:
            print(f"stale: {args.out / name} (run `python -m dashboards.build`)",
                  file=sys.stderr)
        return 1 if problems else 0
    args.out.mkdir(parents=True, exist_ok=True)
    fresh = compiled()
    for name, text in fresh.items():
        (args.out / name).write_text(text)
    for orphan in sorted(args.out.glob("*.json")):
        if orphan.name not in fresh:
            orphan.unlink()
    print(f"wrote {len(fresh)} dashboards to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
